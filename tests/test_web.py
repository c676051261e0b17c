"""The web app in process over a real SQLite database: sign-in, the portfolio, the API."""

from __future__ import annotations

from webserver import PASSWORD, RunningApp, csrf_of, signed_in


def test_nothing_is_reachable_without_signing_in(app: RunningApp) -> None:
    with app.client() as http:
        r = http.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert http.get("/api/portfolio").status_code == 401
        assert http.get("/login").status_code == 200
        assert http.get("/static/app.css").status_code == 200


def test_a_leader_sees_the_demo_portfolio(app: RunningApp) -> None:
    with signed_in(app, "leader") as http:
        page = http.get("/")
        assert page.status_code == 200 and "Northwind Retail (demo)" in page.text
        data = http.get("/api/portfolio").json()
        assert data["run"]["organisation"] == "Northwind Retail (demo)"
        assert data["summary"]["leak"] == sum(1 for s in data["services"]
                                              if s["status"] == "leak") > 0
        assert data["services"][0]["status"] == "leak"


def test_a_wrong_password_is_refused_and_then_throttled(app: RunningApp) -> None:
    """Five failures lock the account for 15 minutes (the client address allows 30, so other
    users of this server still sign in)."""
    with signed_in(app, "admin") as admin:
        from dipstick.store import Store
        from dipstick.store.users import create_user

        with Store.open(app.database) as store:
            create_user(store, "target@example.org", PASSWORD, "viewer")
        assert admin.get("/").status_code == 200
    with app.client() as http:
        codes = []
        for _ in range(6):
            token = csrf_of(http.get("/login").text)
            codes.append(http.post("/login", data={"email": "target@example.org",
                                                   "password": "wrong password!",
                                                   "csrf_token": token}).status_code)
        assert codes == [401] * 5 + [429]
        token = csrf_of(http.get("/login").text)
        r = http.post("/login", data={"email": "target@example.org", "password": PASSWORD,
                                      "csrf_token": token})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
    with signed_in(app, "viewer") as http:   # another account from the same address
        assert http.get("/").status_code == 200


def test_login_needs_the_form_token(app: RunningApp) -> None:
    with app.client() as http:
        r = http.post("/login", data={"email": app.users["admin"], "password": PASSWORD})
        assert r.status_code == 403
        cookie = http.get("/login").headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
