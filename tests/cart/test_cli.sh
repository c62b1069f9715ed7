#!/bin/sh
# rivulet-cart's command line: exit codes scripts can trust and messages that
# name the problem. Usage: test_cli.sh RIVULET_CART
B="$1"
pass=0 fail=0
check() { # name expected-exit needle command...
    name=$1 want=$2 needle=$3
    shift 3
    out=$("$@" 2>&1)
    got=$?
    if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -q -- "$needle"; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name: exit $got (want $want), output: $(printf '%s' "$out" | head -3)"
        fail=$((fail + 1))
    fi
}
db=$(mktemp -u /tmp/rv_cli_XXXXXX.db)
check help 0 "usage: rivulet-cart COMMAND" "$B" --help
check subcommand_help 0 "cart.topology" "$B" run --help
check no_command 2 "usage" "$B"
check unknown_command 2 'unknown command "frobnicate"' "$B" frobnicate
check unknown_option 2 "unknown option --frob" "$B" run --frob
check missing_value 2 "--topic needs a value" "$B" run --topic
check bad_enum 2 'cart.topology: "foo" is not one of parallel|serial|atomic' "$B" run -o cart.topology=foo
check unknown_key 2 'unknown configuration key "cart.colour"' "$B" run -o cart.colour=red
check not_key_value 2 "not of the form key=value" "$B" run -o justakey
check bad_duration 2 "duration" "$B" run -o cart.retry.max=soon
check bad_since 2 "is neither Unix milliseconds" "$B" query events 10000000-0000-4000-8000-000000000001 --since yesterday
check bad_uuid 2 "not a UUID" "$B" query cart not-a-uuid --sqlite "$db"
check missing_cart 3 '"exists":false' "$B" query cart 10000000-0000-4000-8000-000000000001 --sqlite "$db"
check empty_rebuild 0 "0 carts" "$B" rebuild --sqlite "$db"
check bad_config_file 2 "cannot open config file /nonexistent.conf" "$B" run -c /nonexistent.conf
long=$(mktemp /tmp/rv_cli_XXXXXX.jsonl)
awk 'BEGIN { s = "{\"action\":\"Insert\",\"cartId\":\""; for (i = 0; i < 5000; i++) s = s "x"; print s "\"}" }' >"$long"
echo '{"action":"Insert"' >>"$long"
check publish_long_line 2 "line 1: longer than 4096 bytes" "$B" publish --file "$long" --bootstrap mock
check publish_bad_json 2 "line 2: JSON" "$B" publish --file "$long" --bootstrap mock
rm -f "$db" "$db-wal" "$db-shm" "$long"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
