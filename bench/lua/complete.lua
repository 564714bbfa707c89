-- POST .../complete/ on open tasks: wrk <url> -s complete.lua -- <ids file> <threads>
--
-- Every request completes a task that is still open. Should the pool run out, the
-- thread starts over (completing a completed task is a cheaper no-op) and counts it
-- in "wrapped", which the report shows.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local ids, n = {}, 0

function init(args)
  ids = common.my_lines(args[1], tonumber(args[2]))
end

function request()
  n = n + 1
  if n > #ids then
    n, wrapped = 1, wrapped + 1
  end
  return wrk.format("POST", "/api/v1/tasks/" .. ids[n] .. "/complete/")
end

function response(status, headers, body)
  common.record(status, body)
end
