-- POST new tasks: wrk <url> -s create.lua -- <unused> <threads>
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local serial = 0
local json

function init(args)
  json = common.headers({ ["Content-Type"] = "application/json" })
end

function request()
  serial = serial + 1
  local body = string.format(
    '{"title": "Benchmark task %d-%d", "description": "Created by make bench.", '
      .. '"priority": "high", "due_at": "2031-01-31T17:00:00Z"}',
    tid, serial
  )
  return wrk.format("POST", "/api/v1/tasks/", json, body)
end

function response(status, headers, body)
  common.record(status, body)
end
