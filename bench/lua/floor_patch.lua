-- PATCH the floor's tasks round robin: wrk <url> -s floor_patch.lua -- <ids> <threads>
--
-- The floor has no versions or preconditions: each request sets a status.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local ids, n, json = {}, 0, nil
local statuses = { "pending", "in_progress", "completed" }

function init(args)
  ids = common.my_lines(args[1], tonumber(args[2]))
  json = common.headers({ ["Content-Type"] = "application/json" })
end

function request()
  n = n % #ids + 1
  local body = string.format('{"status": "%s"}', statuses[n % 3 + 1])
  return wrk.format("PATCH", "/tasks/" .. ids[n], json, body)
end

function response(status, headers, body)
  common.record(status, body)
end
