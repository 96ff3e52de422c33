"""The markup of the login page: the sign-in form, or who is signed in and a sign-out button.

Phone-first (inspectors sign in on phones, once): one narrow column, inputs and buttons a thumb can hit,
16 px text at least (smaller makes mobile browsers zoom into the field). Bilingual labels like the rest
of the product. Every value goes through `html.escape`; the CSS is inline and the only file loaded is
the shared navigation's script (service.navigation) from the service itself (this is also the page
shown while the read policy closes everything).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from service.accounts.tokens import Principal
from service.navigation import nav_html

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:17px/1.5 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#1d2630;
background:#eef2f1}
main{max-width:26rem;margin:0 auto;padding:1.2rem 1.1rem 3rem}
.page-nav{max-width:44rem;margin:0 auto;padding:.6rem 1.1rem 0}
.brand{margin:0 0 .2rem;color:#2e6b57;font-weight:600;letter-spacing:.02em}
h1{font-size:1.6rem;margin:0 0 1.2rem;line-height:1.25}
h1 span,label span,button span{font-weight:400;color:#56636e}button span{color:inherit}
form{margin:0}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input{display:block;width:100%;min-height:3.2rem;padding:.7rem .85rem;font:inherit;font-size:1.1rem;
border:1px solid #9aa7b0;border-radius:.5rem;background:#fff;color:inherit}
input:focus{outline:3px solid #7fb8a4;outline-offset:1px;border-color:#2e6b57}
button{display:block;width:100%;min-height:3.4rem;margin-top:1.6rem;padding:.7rem 1rem;font:inherit;
font-weight:600;font-size:1.15rem;border:0;border-radius:.5rem;background:#2e6b57;color:#fff;cursor:pointer}
button:active{background:#24564a}
button.secondary{background:#fff;color:#8a2a1f;border:1px solid #c9a19b}
.notice{margin:0 0 1rem;padding:.75rem .9rem;border-radius:.5rem;background:#fde8e4;color:#7a1f12;
border:1px solid #f2b8ad;overflow-wrap:anywhere}
.notice span{display:block;font-size:.95rem}
.who{padding:.9rem 1rem;border-radius:.5rem;background:#fff;border:1px solid #cfd8d4;overflow-wrap:anywhere}
.continue{display:block;margin-top:1.2rem;padding:.8rem 1rem;text-align:center;border-radius:.5rem;
background:#2e6b57;color:#fff;font-weight:600;text-decoration:none}
.help{margin-top:2rem;font-size:.9rem;color:#56636e}
"""


@dataclass(frozen=True)
class Notice:
    """Why the page is shown again: said in Chinese, and in English under it."""

    zh: str
    en: str


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin"><link rel="icon" href="data:,">'
        f"<title>{esc(title)} · sanichain</title><style>{STYLE}</style></head>"
        f'<body><header class="page-nav">{nav_html()}</header>'
        f'<main><p class="brand">sanichain · 农村环境卫生</p>{body}</main></body></html>\n'
    )


def _notice(notice: Notice | None) -> str:
    if notice is None:
        return ""
    return f'<p class="notice" role="alert">{esc(notice.zh)}<span lang="en">{esc(notice.en)}</span></p>'


def sign_in_page(next_path: str, form_token: str, user_name: str = "", notice: Notice | None = None) -> str:
    """The sign-in form, posting to /login with the page to return to and the login form's CSRF value."""
    focus_password = " autofocus" if user_name else ""
    focus_name = "" if user_name else " autofocus"
    return _page(
        "登录 Sign in",
        '<h1>登录 <span lang="en">Sign in</span></h1>'
        + _notice(notice)
        + '<form method="post" action="/login">'
        '<label for="username">用户名 <span lang="en">User name</span></label>'
        f'<input id="username" name="username" value="{esc(user_name)}" required maxlength="200" '
        f'autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false"{focus_name}>'
        '<label for="password">密码 <span lang="en">Password</span></label>'
        '<input id="password" name="password" type="password" required maxlength="1000" '
        f'autocomplete="current-password"{focus_password}>'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        f'<input type="hidden" name="csrf_token" value="{esc(form_token)}">'
        '<button type="submit">登录 <span lang="en">Sign in</span></button>'
        "</form>"
        '<p class="help">账号由管理员开设。'
        '<span lang="en">Accounts are opened by the administrator.</span></p>',
    )


def signed_in_page(
    principal: Principal, csrf_token: str, next_path: str, notice: Notice | None = None
) -> str:
    """Who this browser is signed in as, a way on, and the sign-out form (with the session's CSRF token)."""
    where = f", {principal.town}" if principal.town else ""
    return _page(
        "已登录 Signed in",
        '<h1>已登录 <span lang="en">Signed in</span></h1>'
        + _notice(notice)
        + f'<p class="who">Signed in as <strong>{esc(principal.name)}</strong> '
        f"({esc(principal.role)}{esc(where)})</p>"
        f'<a class="continue" href="{esc(next_path)}">继续 <span lang="en">Continue</span></a>'
        '<form method="post" action="/logout">'
        f'<input type="hidden" name="csrf_token" value="{esc(csrf_token)}">'
        '<button type="submit" class="secondary">退出登录 <span lang="en">Sign out</span></button>'
        "</form>",
    )
