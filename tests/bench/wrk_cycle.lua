-- wrk script: each wrk thread cycles through its own file of pre-built, pre-signed raw HTTP
-- requests (separated by NUL bytes), so no two threads send the same intent and no Lua work
-- (JSON, HMAC) happens while measuring. Set BENCH_WRK_PREFIX to the files' common prefix;
-- thread i reads "<prefix><i>.bin". When a thread runs out it starts over (those requests are
-- identical resubmits, answered 200: bench.py counts only rows that reached the database).
local counter = 0

function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
end

function init(args)
    local prefix = os.getenv("BENCH_WRK_PREFIX")
    local f = assert(io.open(prefix .. tid .. ".bin", "rb"))
    local data = f:read("*a")
    f:close()
    reqs = {}
    local pos = 1
    while true do
        local z = string.find(data, "\0", pos, true)
        if not z then
            break
        end
        reqs[#reqs + 1] = string.sub(data, pos, z - 1)
        pos = z + 1
    end
    n = #reqs
    i = 0
end

function request()
    i = i + 1
    if i > n then
        i = 1
    end
    return reqs[i]
end
