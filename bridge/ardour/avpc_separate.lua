ardour {
	["type"]    = "EditorAction",
	name        = "AVPC: Separate Stems",
	license     = "MIT",
	author      = "avpc-plugin",
	description = [[Separate the selected audio region into instrument stems with a running avpc
engine (bridge/avpc_controller.py) and add each stem as a new track, aligned with the region.]]
}

-- How it works
--  1. The selected region's source file and time range are the job: the range covers exactly the
--     region, so the stems line up with it to the sample.
--  2. A dialog asks for the stems (NAME[=PRESET][@x,y,w,h][+OFFSET], ";" between stems: a box
--     has commas of its own), whether
--     they name every instrument (then they share the mix: --normalise), the video, the output
--     folder, and where python and avpc_controller.py are.
--  3. The controller is run as `python avpc_controller.py separate ...`; it prints one line per
--     finished stem: STEM<TAB>name<TAB>path<TAB>start_seconds<TAB>start_sample (start in the
--     source file). Ardour waits while the engine works (the controller itself times out).
--  4. Each stem is imported as a new track (Ardour's own importer, copied into the session and
--     resampled if needed) at: region position - region start in source + stem start in source.

function factory () return function ()

	local sel = Editor:get_selection ()
	local regions = sel.regions:regionlist ()
	if regions:size () ~= 1 then
		LuaDialog.Message ("AVPC", "Select exactly one audio region.",
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		return
	end
	local region = regions:front ()
	local audio = region:to_audioregion ()
	if audio:isnil () then
		LuaDialog.Message ("AVPC", "The selected region is not an audio region.",
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		return
	end

	-- the file behind the region: for a mono region its session copy is the audio; a stereo
	-- region plays one copy per channel (name%L.wav, name%R.wav), and either alone is one
	-- channel, so the user picks the original file (the concert video or its audio)
	local source = region:source (0):to_filesource ()
	local source_path = source:isnil () and "" or source:path ()
	local counted, channels = pcall (function () return region:n_channels () end)
	if counted and channels > 1 then source_path = "" end
	local rate = Session:nominal_sample_rate ()
	local start_s = region:start ():samples () / rate
	local end_s = start_s + region:length ():samples () / rate
	local session_dir = Session:path ()

	local dialog = LuaDialog.Dialog ("AVPC: Separate Stems", {
		{ type = "file",    key = "source", title = "Source audio or video", path = source_path },
		{ type = "file",    key = "video",  title = "Video (empty: the source)", path = "" },
		{ type = "entry",   key = "stems",  title = "Stems (; between stems)", default = "violin; cello" },
		{ type = "checkbox", key = "normalise", title = "Every instrument named: stems share the mix", default = false },
		{ type = "folder",  key = "out",    title = "Output folder", path = session_dir },
		{ type = "entry",   key = "python", title = "Python", default = "python3" },
		{ type = "file",    key = "controller", title = "avpc_controller.py", path = "" },
		{ type = "entry",   key = "port",   title = "Engine port", default = "9000" },
	})
	local rv = dialog:run ()
	if not rv then return end

	local function quote (s) return "'" .. string.gsub (s, "'", "'\\''") .. "'" end
	local port = tonumber (rv["port"])
	if not port or rv["source"] == "" or rv["controller"] == "" then
		LuaDialog.Message ("AVPC", "Give the source file, avpc_controller.py and a port number.",
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		return
	end

	local cmd = quote (rv["python"]) .. " " .. quote (rv["controller"])
		.. " --port " .. port
		.. " --timeout 30 separate " .. quote (rv["source"])
		.. " --out " .. quote (rv["out"])
		.. string.format (" --start %.9f --end %.9f", start_s, end_s)
	if rv["video"] and rv["video"] ~= "" then
		cmd = cmd .. " --video " .. quote (rv["video"])
	end
	if rv["normalise"] then
		cmd = cmd .. " --normalise"
	end
	for stem in string.gmatch (rv["stems"], "[^;]+") do
		stem = stem:gsub ("^%s+", ""):gsub ("%s+$", "")
		if stem ~= "" then cmd = cmd .. " --stem " .. quote (stem) end
	end

	local pipe = io.popen (cmd .. " 2>&1", "r")
	local stems, log = {}, {}
	for line in pipe:lines () do
		local name, path, seconds = line:match ("^STEM\t([^\t]*)\t([^\t]*)\t([^\t]*)\t")
		if name then
			stems[#stems + 1] = { name = name, path = path, seconds = tonumber (seconds) }
		else
			log[#log + 1] = line
		end
	end
	local ok = pipe:close ()
	if not ok or #stems == 0 then
		LuaDialog.Message ("AVPC", "Separation failed:\n" .. table.concat (log, "\n"),
			LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		return
	end

	-- timeline position of the source file's first sample
	local origin = region:position ():samples () - region:start ():samples ()
	for _, stem in ipairs (stems) do
		local files = C.StringVector ()
		files:push_back (stem.path)
		local at = Temporal.timepos_t (origin + math.floor (stem.seconds * rate + 0.5))
		Editor:do_import (files,
			Editing.ImportDistinctFiles, Editing.ImportAsTrack, ARDOUR.SrcQuality.SrcBest,
			ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
			at, ARDOUR.PluginInfo (), ARDOUR.Track (), false)
	end
end end
