-- PATCH with If-Match: wrk <url> -s patch.lua -- <"id etag" lines> <threads>
--
-- Each thread owns its own tasks, more of them than it has connections, so a task
-- is never in flight twice. A task waits in `idle` with the ETag of its last
-- response; the ETag ("<id>.<version>") also names the task, which is how a
-- response is matched to its task without knowing the connection.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup, done = common.setup, common.done

local idle, fallback = {}, nil
local serial = 0

function init(args)
  for _, line in ipairs(common.my_lines(args[1], tonumber(args[2]))) do
    local id, etag = line:match("^(%S+) (%S+)$")
    table.insert(idle, { id = id, etag = etag })
  end
  fallback = idle[1]
end

function request()
  local task = table.remove(idle)
  if task == nil then
    -- Never expected: the pool is larger than the connections. A stale ETag makes
    -- the request fail visibly (412) instead of hiding the problem.
    starved = starved + 1
    task = { id = fallback.id, etag = '"stale"' }
  end
  serial = serial + 1
  local headers = common.headers({
    ["Content-Type"] = "application/json",
    ["If-Match"] = task.etag,
  })
  local body = string.format('{"title": "Benchmark edit %d-%d"}', tid, serial)
  return wrk.format("PATCH", "/api/v1/tasks/" .. task.id .. "/", headers, body)
end

function response(status, headers, body)
  if common.record(status, body) then
    local etag = headers["ETag"] or headers["etag"]
    local id = etag and etag:match('^"([^.]+)%.')
    if id then
      table.insert(idle, { id = id, etag = etag })
    end
  end
end
