<?php
// The common client script in PHP (phpredis): the same steps as client.py and client.rb.
// Usage: php client.php PORT PREFIX. Prints one JSON object: step name -> result.
$port = (int)$argv[1];
$prefix = $argv[2];
$r = new Redis();
$r->connect("127.0.0.1", $port, 10);
$out = [];
$k = fn($name) => $prefix . $name;
// The values this script reads back as text are ASCII; false is phpredis's nil.
$text = fn($v) => $v === false ? null : $v;
$error = function (callable $fn) use ($r) {
    $r->clearLastError();
    try {
        $result = $fn();
    } catch (RedisException $e) {
        return $e->getMessage();
    }
    $err = $r->getLastError();
    return $err === null ? null : $err;
};

$r->del($k("a"), $k("b"), $k("c"), $k("n"), $k("bin"), $k("t"), $k("p"));
$out["ping"] = $r->ping() !== false;
$out["set"] = $r->set($k("a"), "1");
$out["get"] = $text($r->get($k("a")));
$out["get_missing"] = $text($r->get($k("missing")));
$out["set_nx_taken"] = $r->set($k("a"), "2", ["nx"]) ? true : null;
$out["set_xx"] = $r->set($k("a"), "3", ["xx"]) ? true : null;
$out["set_get"] = $text($r->rawCommand("SET", $k("a"), "4", "GET"));
$out["mset"] = $r->mset([$k("b") => "B", $k("c") => "C"]);
$out["mget"] = array_map($text, $r->mget([$k("b"), $k("missing"), $k("c")]));
$out["incr"] = [$r->incr($k("n")), $r->incr($k("n")), $r->incrBy($k("n"), 10), $r->decr($k("n"))];
$out["not_integer"] = $error(fn() => $r->incr($k("b")));
$binary = "a\r\nb\x00c\xff";
$r->set($k("bin"), $binary);
$out["binary"] = $r->get($k("bin")) === $binary;
$out["set_ex"] = $r->set($k("t"), "x", ["ex" => 100]);
$ttl = $r->ttl($k("t"));
$out["ttl_in_range"] = $ttl >= 98 && $ttl <= 100;
$out["persist"] = [(int)$r->persist($k("t")), $r->ttl($k("t")), $r->ttl($k("missing"))];
$out["expire"] = [(int)$r->expire($k("t"), 50), (int)$r->pexpire($k("missing"), 50)];
$pipe = $r->multi(Redis::PIPELINE);
for ($i = 0; $i < 100; $i++) $pipe->incr($k("p"));
$out["pipeline"] = $pipe->exec() === range(1, 100);
$out["exists"] = $r->exists($k("a"), $k("a"), $k("missing"));
$out["del"] = $r->del($k("a"), $k("b"), $k("missing"));
$out["unknown"] = $error(fn() => $r->rawCommand("NOSUCHCOMMAND", "x"));
$out["arity"] = $error(fn() => $r->rawCommand("GET"));
$out["setex"] = [$r->setex($k("s"), 100, "v"), $r->ttl($k("s")) >= 98];
$out["getdel"] = [$text($r->rawCommand("GETDEL", $k("s"))), $text($r->rawCommand("GETDEL", $k("s")))];
$out["append"] = [$r->append($k("ap"), "ab"), $r->append($k("ap"), "cd"), $r->get($k("ap")), $r->strlen($k("ap"))];
$out["incrbyfloat"] = [$r->incrByFloat($k("f"), 0.1), $r->incrByFloat($k("f"), 0.2)];
$out["getrange"] = $r->getRange($k("ap"), 1, 2);
$out["type"] = [$r->type($k("ap")), $r->type($k("missing"))];
$out["unlink"] = $r->unlink($k("ap"), $k("f"), $k("missing"));
$r->mset(["{" . $prefix . "}a" => "1", "{" . $prefix . "}b" => "2"]);
$r->setOption(Redis::OPT_SCAN, Redis::SCAN_RETRY);
$found = [];
$it = null;
while (($keys = $r->scan($it, "{" . $prefix . "}*", 100)) !== false) {
    foreach ($keys as $key) $found[] = $key;
}
sort($found);
$out["scan_tag"] = $found;
$r->del("{" . $prefix . "}a", "{" . $prefix . "}b");
ksort($out);
echo json_encode($out), "\n";
