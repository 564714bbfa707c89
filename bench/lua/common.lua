-- Shared by the scenario scripts: per-thread bookkeeping and one JSON report line.
--
-- wrk runs setup() and done() in its main Lua state and request()/response() in one
-- state per thread; the counters below are globals of the thread states, which done()
-- reads back with thread:get().
local M = {}

local threads = {}
local thread_count = 0

function M.setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

-- Thread-state globals.
non2xx = 0
starved = 0
wrapped = 0
error_sample = ""

function M.record(status, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if error_sample == "" then
      error_sample = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
    return false
  end
  return true
end

-- Lines of a file that belong to this thread: every nth, starting at its own index;
-- all of them when there are fewer lines than threads (a single path, say).
function M.my_lines(path, threads_total)
  local all, mine = {}, {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(all, line)
    end
  end
  if #all < threads_total then
    return all
  end
  for index, line in ipairs(all) do
    if (index - 1) % threads_total == tid then
      table.insert(mine, line)
    end
  end
  return mine
end

-- wrk.format() replaces the -H headers (the bearer token) when given headers of its
-- own, so request headers are always built on top of them.
function M.headers(extra)
  local merged = {}
  for name, value in pairs(wrk.headers) do
    merged[name] = value
  end
  for name, value in pairs(extra) do
    merged[name] = value
  end
  return merged
end

local function json_string(text)
  text = string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. text .. '"'
end

function M.done(summary, latency, requests)
  local totals = { non2xx = 0, starved = 0, wrapped = 0 }
  local sample = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    local s = thread:get("error_sample")
    if sample == "" and s then
      sample = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, '
      .. '"socket_errors": %d, "timeouts": %d, "starved": %d, "wrapped": %d, '
      .. '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "error_sample": %s}\n',
    summary.requests, summary.duration, summary.bytes, totals.non2xx,
    e.connect + e.read + e.write, e.timeout, totals.starved, totals.wrapped,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max, json_string(sample)
  ))
end

return M
