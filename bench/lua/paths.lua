-- GET a list of paths round robin: wrk <url> -s paths.lua -- <paths file> <threads>
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local paths, n = {}, 0

function init(args)
  paths = common.my_lines(args[1], tonumber(args[2]))
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

function response(status, headers, body)
  common.record(status, body)
end
