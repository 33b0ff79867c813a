"""PROTOCOL.md section 5: the server sanitises msg text before relay."""

import pytest

from helpers import pair

ESC = "\x1b"

CASES = [
    # (id, sent, relayed)
    ("plain", "plain text", "plain text"),
    ("csi_sgr", "a" + ESC + "[1;31mb" + ESC + "[0m", "ab"),
    ("csi_private", "a" + ESC + "[?25hb", "ab"),
    ("csi_final_at", "a" + ESC + "[@b", "ab"),
    ("csi_final_tilde", "a" + ESC + "[5~b", "ab"),
    ("csi_clear_screen", ESC + "[2J" + ESC + "[Hx", "x"),
    ("osc8_bel", "a" + ESC + "]8;;http://evil.example\x07link" + ESC +
     "]8;;\x07b", "alinkb"),
    ("osc8_st", "a" + ESC + "]8;;http://evil.example" + ESC + "\\link" +
     ESC + "]8;;" + ESC + "\\b", "alinkb"),
    ("osc52_bel", "a" + ESC + "]52;c;ZXZpbA==\x07b", "ab"),
    ("osc52_st", "a" + ESC + "]52;c;ZXZpbA==" + ESC + "\\b", "ab"),
    ("osc_title", "a" + ESC + "]0;pwned\x07b", "ab"),
    ("dcs", "a" + ESC + "Pq#0;2;0;0;0" + ESC + "\\b", "ab"),
    ("sos", "a" + ESC + "Xsos" + ESC + "\\b", "ab"),
    ("pm", "a" + ESC + "^pm" + ESC + "\\b", "ab"),
    ("apc", "a" + ESC + "_apc" + ESC + "\\b", "ab"),
    ("dcs_bel_does_not_end", "a" + ESC + "Px\x07y" + ESC + "\\b", "ab"),
    ("c1_csi", "a\u009b31mb", "ab"),
    ("c1_osc_bel", "a\u009d0;t\x07b", "ab"),
    ("c1_osc_c1_st", "a\u009d8;;http://x\u009clink", "alink"),
    ("c1_dcs_c1_st", "a\u0090x\u009cb", "ab"),
    ("c1_apc_esc_st", "a\u009fapc" + ESC + "\\b", "ab"),
    ("esc_st_c1_for_7bit_osc", "a" + ESC + "]0;t\u009cb", "ab"),
    ("esc_plus_char", "a" + ESC + "cb", "ab"),
    ("esc_paren_b_keeps_b", "a" + ESC + "(Bb", "aBb"),
    ("esc_plus_two_byte_char", "a" + ESC + "\u00e9b", "ab"),
    ("esc_plus_astral_char", "a" + ESC + "\U0001f600b", "ab"),
    ("esc_at_end", "ab" + ESC, "ab"),
    ("unterminated_csi", "ab" + ESC + "[31", "ab"),
    ("unterminated_osc", "ab" + ESC + "]8;;http://x rest", "ab"),
    ("unterminated_dcs", "ab" + ESC + "Pdata rest", "ab"),
    ("unterminated_c1_csi", "ab\u009b12", "ab"),
    ("unterminated_c1_osc", "ab\u009d0;rest", "ab"),
    ("c0_controls", "a\x00b\x01c\x07d\x08e\x1ff", "abcdef"),
    ("del", "a\x7fb", "ab"),
    ("c1_controls", "a\u0080b\u0085c\u009cd", "abcd"),
    ("tab_becomes_space", "a\tb\t", "a b "),
    ("cr_lf_removed", "line1\r\nline2\nline3\r", "line1line2line3"),
    ("bidi_overrides", "a\u202ab\u202bc\u202cd\u202de\u202ef", "abcdef"),
    ("bidi_isolates", "a\u2066b\u2067c\u2068d\u2069e", "abcde"),
    ("bidi_marks", "a\u200eb\u200fc\u061cd", "abcd"),
    ("unicode_kept", "h\u00e9llo \u65e5\u672c \U0001f600 \u200b\u00a0",
     "h\u00e9llo \u65e5\u672c \U0001f600 \u200b\u00a0"),
    ("markdown_kept", "**bold** [x](http://y) :smile:",
     "**bold** [x](http://y) :smile:"),
    ("json_specials_kept", 'quote " backslash \\ slash /',
     'quote " backslash \\ slash /'),
]


@pytest.mark.parametrize("sent,relayed", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_msg_text_sanitised_before_relay(shared_server, sent, relayed):
    a, b = await pair(shared_server)
    a.msg(sent)
    m = await b.expect("msg")
    assert m["text"] == relayed, "sent %r, relayed %r, want %r" % (
        sent, m["text"], relayed)


async def test_escaped_json_controls_sanitised(shared_server):
    a, b = await pair(shared_server)
    a.send('{"t":"msg","text":"a\\u001b[31mb\\u0000c\\u202ed\\td"}')
    await b.expect("msg", text="abcd d")
