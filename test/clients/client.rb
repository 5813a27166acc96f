# The common client script in Ruby (redis-rb): the same steps as client.py and client.php.
# Usage: ruby client.rb PORT PREFIX. Prints one JSON object: step name -> result.
require "json"
require "redis"

port = Integer(ARGV[0])
prefix = ARGV[1]
r = Redis.new(host: "127.0.0.1", port: port, timeout: 10)
out = {}
k = ->(name) { prefix + name }
text = ->(v) { v.is_a?(String) ? v.dup.force_encoding("ISO-8859-1").encode("UTF-8") : v }
error = lambda do |&blk|
  blk.call
  nil
rescue Redis::CommandError => e
  e.message
end

r.del(k.("a"), k.("b"), k.("c"), k.("n"), k.("bin"), k.("t"), k.("p"))
out["ping"] = r.ping == "PONG"
out["set"] = r.set(k.("a"), "1") == "OK"
out["get"] = text.(r.get(k.("a")))
out["get_missing"] = r.get(k.("missing"))
out["set_nx_taken"] = r.set(k.("a"), "2", nx: true) ? true : nil
out["set_xx"] = r.set(k.("a"), "3", xx: true) ? true : nil
out["set_get"] = text.(r.set(k.("a"), "4", get: true))
out["mset"] = r.mset(k.("b"), "B", k.("c"), "C") == "OK"
out["mget"] = r.mget(k.("b"), k.("missing"), k.("c")).map(&text)
out["incr"] = [r.incr(k.("n")), r.incr(k.("n")), r.incrby(k.("n"), 10), r.decr(k.("n"))]
out["not_integer"] = error.call { r.incr(k.("b")) }
binary = "a\r\nb\x00c\xff".b
r.set(k.("bin"), binary)
out["binary"] = r.get(k.("bin")).b == binary
out["set_ex"] = r.set(k.("t"), "x", ex: 100) == "OK"
ttl = r.ttl(k.("t"))
out["ttl_in_range"] = ttl.between?(98, 100)
out["persist"] = [r.persist(k.("t")), r.ttl(k.("t")), r.ttl(k.("missing"))]
out["expire"] = [r.expire(k.("t"), 50), r.pexpire(k.("missing"), 50)]
results = r.pipelined { |p| 100.times { p.incr(k.("p")) } }
out["pipeline"] = results == (1..100).to_a
out["exists"] = r.exists(k.("a"), k.("a"), k.("missing"))
out["del"] = r.del(k.("a"), k.("b"), k.("missing"))
out["unknown"] = error.call { r.call("NOSUCHCOMMAND", "x") }
out["arity"] = error.call { r.call("GET") }
out["setex"] = [r.setex(k.("s"), 100, "v"), r.ttl(k.("s")).between?(98, 100)]
out["getdel"] = [text.(r.getdel(k.("s"))), r.getdel(k.("s"))]
out["append"] = [r.append(k.("ap"), "ab"), r.append(k.("ap"), "cd"), text.(r.get(k.("ap"))), r.strlen(k.("ap"))]
out["incrbyfloat"] = [r.incrbyfloat(k.("f"), 0.1), r.incrbyfloat(k.("f"), 0.2)]
out["getrange"] = text.(r.getrange(k.("ap"), 1, 2))
out["type"] = [r.type(k.("ap")), r.type(k.("missing"))]
out["unlink"] = r.unlink(k.("ap"), k.("f"), k.("missing"))
r.mset("{#{prefix}}a", "1", "{#{prefix}}b", "2")
out["scan_tag"] = r.scan_each(match: "{#{prefix}}*", count: 100).to_a.sort
r.del("{#{prefix}}a", "{#{prefix}}b")
puts JSON.generate(out.sort.to_h)
