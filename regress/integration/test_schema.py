"""
PROTOCOL.md section 1 (one JSON object per message) and section 3 (strict
validation): every schema defect is answered `bad_frame`, the socket stays
open, and schema is checked before state.
"""

import pytest

from helpers import OP_TEXT, client, connect

K = "ab" * 32          # a well-formed key (never joined with)

# (id, raw text) -- sent by a ready socket that is in no queue or room
DEFECTS_READY = [
    ("not_json", 'hello'),
    ("truncated_json", '{"t":"beat"'),
    ("empty_text", ''),
    ("array", '[]'),
    ("array_of_object", '[{"t":"beat"}]'),
    ("string", '"beat"'),
    ("number", '1'),
    ("null", 'null'),
    ("true", 'true'),
    ("two_objects", '{"t":"beat"}{"t":"beat"}'),
    ("trailing_garbage", '{"t":"beat"}x'),
    ("single_quotes", "{'t':'beat'}"),
    ("unknown_t", '{"t":"nope"}'),
    ("t_wrong_case", '{"t":"Beat"}'),
    ("t_missing", '{}'),
    ("t_missing_other_member", '{"nonce":"abc"}'),
    ("t_number", '{"t":1}'),
    ("t_null", '{"t":null}'),
    ("t_object", '{"t":{"x":1}}'),
    ("beat_extra_member", '{"t":"beat","x":1}'),
    ("insights_extra_member", '{"t":"insights","room":true}'),
    ("done_extra_member", '{"t":"done","now":1}'),
    ("skip_extra_member", '{"t":"skip","why":"x"}'),
    ("duplicate_t", '{"t":"beat","t":"beat"}'),
    ("duplicate_nonce", '{"t":"pow","nonce":"a","nonce":"b"}'),
    ("duplicate_text", '{"t":"msg","text":"a","text":"b"}'),
    ("pow_missing_nonce", '{"t":"pow"}'),
    ("pow_nonce_number", '{"t":"pow","nonce":123}'),
    ("pow_nonce_empty", '{"t":"pow","nonce":""}'),
    ("pow_nonce_33_chars", '{"t":"pow","nonce":"%s"}' % ("a" * 33)),
    ("pow_nonce_dash", '{"t":"pow","nonce":"ab-c"}'),
    ("pow_nonce_space", '{"t":"pow","nonce":"ab c"}'),
    ("pow_nonce_non_ascii", '{"t":"pow","nonce":"ab\u00e9"}'),
    ("pow_extra_member", '{"t":"pow","nonce":"abc","x":1}'),
    ("msg_missing_text", '{"t":"msg"}'),
    ("msg_text_number", '{"t":"msg","text":1}'),
    ("msg_text_null", '{"t":"msg","text":null}'),
    ("msg_text_array", '{"t":"msg","text":["a"]}'),
    ("msg_lone_high_surrogate", '{"t":"msg","text":"a\\ud800b"}'),
    ("msg_lone_low_surrogate", '{"t":"msg","text":"a\\udc00"}'),
    ("msg_reversed_surrogates", '{"t":"msg","text":"\\ude00\\ud83d"}'),
    ("msg_extra_member", '{"t":"msg","text":"a","to":"b"}'),
    ("raw_nul_in_string", '{"t":"msg","text":"a\x00b"}'),
    ("raw_tab_in_string", '{"t":"msg","text":"a\tb"}'),
    ("raw_newline_in_string", '{"t":"msg","text":"a\nb"}'),
    ("byte_order_mark", '\ufeff{"t":"beat"}'),
    ("nul_after_object", '{"t":"beat"}\x00'),
    ("duplicate_t_escaped", '{"t":"beat","\\u0074":"beat"}'),
    ("deeply_nested_value",
     '{"t":"msg","text":"a","x":' + "[" * 5000 + "]" * 5000 + '}'),
    ("deeply_nested_bare", "[" * 16000),
    ("bad_escape", '{"t":"msg","text":"\\x41"}'),
    ("truncated_unicode_escape", '{"t":"msg","text":"\\u12"}'),
]


@pytest.mark.parametrize("raw", [d[1] for d in DEFECTS_READY],
                         ids=[d[0] for d in DEFECTS_READY])
async def test_schema_defect_answers_bad_frame_socket_stays_open(
        shared_server, raw):
    ws = await client(shared_server)
    ws.send_frame(OP_TEXT, raw.encode("utf-8"))
    await ws.expect_error("bad_frame")
    # still open, still ready: a pow after ready is `state`
    ws.send({"t": "pow", "nonce": "abc"})
    await ws.expect_error("state")


def join(**kw):
    m = {"t": "join", "v": 1, "key": K, "mode": "task"}
    for k, v in kw.items():
        if v is ...:
            del m[k]
        else:
            m[k] = v
    return m


DEFECTS_JOIN = [
    ("missing_v", join(v=...)),
    ("missing_key", join(key=...)),
    ("missing_mode", join(mode=...)),
    ("extra_member", join(room="x")),
    ("v_string", join(v="1")),
    ("v_null", join(v=None)),
    ("v_bool", join(v=True)),
    ("v_array", join(v=[1])),
    ("key_number", join(key=1)),
    ("key_63_hex", join(key="a" * 63)),
    ("key_65_hex", join(key="a" * 65)),
    ("key_uppercase_hex", join(key="AB" * 32)),
    ("key_non_hex", join(key="g" * 64)),
    ("key_empty", join(key="")),
    ("mode_unknown", join(mode="chat")),
    ("mode_uppercase", join(mode="TASK")),
    ("mode_empty", join(mode="")),
    ("mode_number", join(mode=1)),
]


@pytest.mark.parametrize("obj", [d[1] for d in DEFECTS_JOIN],
                         ids=[d[0] for d in DEFECTS_JOIN])
async def test_join_schema_defect_answers_bad_frame_before_state(
        shared_server, obj):
    # before ready a join is not allowed: bad_frame shows schema comes first
    ws = await connect(shared_server)
    await ws.hello()
    ws.send(obj)
    await ws.expect_error("bad_frame")
    ws.send({"t": "beat"})
    await ws.expect_error("state")


async def test_join_duplicate_member_answers_bad_frame(shared_server):
    ws = await client(shared_server)
    ws.send('{"t":"join","v":1,"v":1,"key":"%s","mode":"task"}' % K)
    await ws.expect_error("bad_frame")
    ws.send({"t": "pow", "nonce": "abc"})
    await ws.expect_error("state")


async def test_pow_format_defect_before_ready_answers_bad_frame_not_pow(
        shared_server):
    ws = await connect(shared_server)
    await ws.hello()
    ws.send({"t": "pow", "nonce": "a" * 33})
    await ws.expect_error("bad_frame")
    await ws.pow()                     # then a right one is still accepted


async def test_msg_with_valid_surrogate_pair_escape_is_not_bad_frame(
        shared_server):
    ws = await client(shared_server)
    ws.send('{"t":"msg","text":"\\ud83d\\ude00"}')
    await ws.expect_error("state")     # well-formed: only the state is wrong


async def test_members_in_any_order_and_whitespace_accepted(shared_server):
    ws = await connect(shared_server)
    await ws.hello()
    from helpers import solve_pow
    nonce = solve_pow(ws.challenge, ws.bits)
    ws.send(' { "nonce" : "%s" ,\n "t" : "pow" } ' % nonce)
    await ws.expect("ready")
