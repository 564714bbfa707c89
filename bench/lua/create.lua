-- POST new tasks: wrk <url> -s create.lua -- <file naming the path> <threads>
--
-- The body suits both the API (/api/v1/tasks/) and the floor (/tasks).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local serial = 0
local json
local path = "/api/v1/tasks/"

function init(args)
  json = common.headers({ ["Content-Type"] = "application/json" })
  path = common.my_lines(args[1], tonumber(args[2]))[1] or path
end

function request()
  serial = serial + 1
  local body = string.format(
    '{"title": "Benchmark task %d-%d", "description": "Created by make bench.", '
      .. '"priority": "high", "due_at": "2031-01-31T17:00:00Z"}',
    tid, serial
  )
  return wrk.format("POST", path, json, body)
end

function response(status, headers, body)
  common.record(status, body)
end
