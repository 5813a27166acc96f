# The common client script in Python (redis-py): the same steps as client.rb and client.php.
# Usage: python3 client.py PORT PREFIX. Prints one JSON object: step name -> result.
import json
import sys

import redis

port, prefix = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
out = {}


def k(name):
    return prefix + name


def text(v):
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, list):
        return [text(x) for x in v]
    return v


def error(fn):
    try:
        fn()
        return None
    except redis.ResponseError as e:
        return str(e)


r.delete(k("a"), k("b"), k("c"), k("n"), k("bin"), k("t"), k("p"))
out["ping"] = r.ping()
out["set"] = r.set(k("a"), "1")
out["get"] = text(r.get(k("a")))
out["get_missing"] = r.get(k("missing"))
out["set_nx_taken"] = r.set(k("a"), "2", nx=True)
out["set_xx"] = r.set(k("a"), "3", xx=True)
out["set_get"] = text(r.set(k("a"), "4", get=True))
out["mset"] = r.mset({k("b"): "B", k("c"): "C"})
out["mget"] = text(r.mget([k("b"), k("missing"), k("c")]))
out["incr"] = [r.incr(k("n")), r.incr(k("n")), r.incrby(k("n"), 10), r.decr(k("n"))]
out["not_integer"] = error(lambda: r.incr(k("b")))
binary = b"a\r\nb\x00c\xff"
r.set(k("bin"), binary)
out["binary"] = r.get(k("bin")) == binary
out["set_ex"] = r.set(k("t"), "x", ex=100)
ttl = r.ttl(k("t"))
out["ttl_in_range"] = 98 <= ttl <= 100
out["persist"] = [r.persist(k("t")), r.ttl(k("t")), r.ttl(k("missing"))]
out["expire"] = [r.expire(k("t"), 50), r.pexpire(k("missing"), 50)]
pipe = r.pipeline(transaction=False)
for _ in range(100):
    pipe.incr(k("p"))
out["pipeline"] = pipe.execute() == list(range(1, 101))
out["exists"] = r.exists(k("a"), k("a"), k("missing"))
out["del"] = r.delete(k("a"), k("b"), k("missing"))
out["unknown"] = error(lambda: r.execute_command("NOSUCHCOMMAND", "x"))
out["arity"] = error(lambda: r.execute_command("GET"))
out["setex"] = [r.setex(k("s"), 100, "v"), 98 <= r.ttl(k("s")) <= 100]
out["getdel"] = [text(r.getdel(k("s"))), r.getdel(k("s"))]
out["append"] = [r.append(k("ap"), "ab"), r.append(k("ap"), "cd"), text(r.get(k("ap"))), r.strlen(k("ap"))]
out["incrbyfloat"] = [r.incrbyfloat(k("f"), 0.1), r.incrbyfloat(k("f"), 0.2)]
out["getrange"] = text(r.getrange(k("ap"), 1, 2))
out["type"] = [text(r.type(k("ap"))), text(r.type(k("missing")))]
out["unlink"] = r.unlink(k("ap"), k("f"), k("missing"))
r.mset({"{%s}a" % prefix: "1", "{%s}b" % prefix: "2"})
found = sorted(text(key) for key in r.scan_iter(match="{%s}*" % prefix, count=100))
out["scan_tag"] = found
r.delete("{%s}a" % prefix, "{%s}b" % prefix)
print(json.dumps(out, sort_keys=True))
