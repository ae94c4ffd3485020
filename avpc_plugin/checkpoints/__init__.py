"""Self-describing checkpoints and the model registry.

Import from the module that holds a name: the package itself imports nothing, so listing and
verifying models loads no torch.

- :mod:`~avpc_plugin.checkpoints.files` (no torch): checkpoint file names and hashes
  (``sha256_file``, ``check_file_hash``, ``validate_name``), training run folders
  (``run_checkpoint``) and ``CheckpointError``.
- :mod:`~avpc_plugin.checkpoints.format` (torch): ``save_checkpoint`` / ``load_checkpoint`` write
  and read one-file checkpoints named ``<name>-<sha8>.pt``; ``read_checkpoint_metadata``,
  ``build_model``, ``count_parameters``, ``read_state_dict_file``.
- :mod:`~avpc_plugin.checkpoints.registry` (no torch until a model loads): ``list_models`` /
  ``find_model`` / ``default_model`` / ``load_model`` / ``register_model`` find, load and add
  verified checkpoints by name through the ``index.json`` files on the model search path.
- :mod:`~avpc_plugin.checkpoints.convert` (torch): ``convert_reference_state_dicts`` turns the
  reference implementation's state dicts into an ``"avpc"`` config and state dict.
"""
