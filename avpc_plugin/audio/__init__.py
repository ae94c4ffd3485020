"""Audio: file I/O at any rate (:mod:`~avpc_plugin.audio.io`, no torch), and the model-rate front
end: STFT (:mod:`~avpc_plugin.audio.stft`), log-frequency warp (:mod:`~avpc_plugin.audio.warp`),
mask targets (:mod:`~avpc_plugin.audio.masks`), losses (:mod:`~avpc_plugin.audio.losses`),
mixing (:mod:`~avpc_plugin.audio.mixing`) and the mixture analysis the nets read
(:mod:`~avpc_plugin.audio.frontend`). Import from the module that holds a name: the package
itself imports nothing, so reading and writing files loads no torch."""
