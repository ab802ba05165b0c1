-- wrk script: POST distinct Alibaba pull-to-push callbacks (see bench/load.py).
--
-- Configured by environment variables, set by bench/load.py:
--   BENCH_PATH      request target (path and query)
--   BENCH_TEMPLATE  body format string: EventTime (%d), TaskId (%s) twice, TaskStatus (%d)
--   BENCH_TASK_FMT  TaskId format string taking the task number (%d)
--   BENCH_TASKS     how many distinct task ids the requests cycle through
--   BENCH_FIRST     number of the first request (continues the previous run's numbering)
--   BENCH_DELAY_MS  think time before each request of a connection (0: closed loop)
--   BENCH_THREADS   wrk's thread count (-t)
--   BENCH_OUT       file the summary is written to, as one JSON object
--
-- Request n of thread t (of T) is number k = FIRST + n * T + t overall: task k mod TASKS, EventTime
-- base + k, TaskStatus alternating running (1) / recovering (2) per task. No two requests
-- are alike, so none is a duplicate and each one changes its task's state. The summary
-- names the first number no request of this run used (next_k), for the next run.

local path = os.getenv("BENCH_PATH")
local template = os.getenv("BENCH_TEMPLATE")
local task_fmt = os.getenv("BENCH_TASK_FMT")
local tasks = tonumber(os.getenv("BENCH_TASKS"))
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local out = os.getenv("BENCH_OUT")
local base_time = 1725500000
local headers = { ["Content-Type"] = "application/json" }

local first = tonumber(os.getenv("BENCH_FIRST") or "0")
local thread_total = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}
sent = 0 -- global: done() reads it from each thread

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function request()
   local k = first + sent * thread_total + thread_index
   sent = sent + 1
   local task = string.format(task_fmt, k % tasks)
   local status = math.floor(k / tasks) % 2 + 1
   local body = string.format(template, base_time + k, task, task, status)
   return wrk.format("POST", path, headers, body)
end

if delay_ms > 0 then
   function delay()
      return delay_ms
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   local most = 0
   for _, thread in ipairs(threads) do
      most = math.max(most, thread:get("sent"))
   end
   local f = assert(io.open(out, "w"))
   f:write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
         .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
         .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"next_k":%d}\n',
      summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
      errors.write, errors.status, errors.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      first + most * thread_total))
   f:close()
end
