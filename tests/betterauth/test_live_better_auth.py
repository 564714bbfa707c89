"""End to end: a real Better Auth server (Node, interop/better-auth) issues the tokens,
a real server of ours (gunicorn) takes them.

Users sign up on Better Auth and get their JWTs from /api/auth/token, as a Next.js
front end's ``authClient.token()`` does. These tests fail, never skip, when the Node
project is not installed (.ci/ensure-node-deps.sh installs it).
"""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support import betterauth_node
from tests.support.betterauth_node import api_env, api_server, better_auth_server
from tests.support.live import request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _node_installed() -> None:
    reason = betterauth_node.missing()
    if reason is not None:
        pytest.fail(reason)


def _tasks(base: str, user_id: str, path: str = "") -> str:
    return f"{base}/api/{user_id}/tasks{path}"


def test_sign_up_create_list_toggle_edit_delete_with_stock_eddsa_tokens(tmp_path):
    with better_auth_server() as auth, api_server(tmp_path, **api_env(auth)) as api:
        ada = auth.sign_up("Ada")
        token = ada.token()
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"

        code, _, task = request(
            "POST", _tasks(api, ada.user_id), {"title": "Ship it"}, token
        )
        assert code == 201, task
        assert (task["user_id"], task["completed"]) == (ada.user_id, False)
        code, _, listed = request("GET", _tasks(api, ada.user_id), token=token)
        assert (code, listed) == (200, [task])
        code, _, toggled = request(
            "PATCH", _tasks(api, ada.user_id, f"/{task['id']}/complete"), token=token
        )
        assert (code, toggled["completed"]) == (200, True)
        code, _, edited = request(
            "PUT",
            _tasks(api, ada.user_id, f"/{task['id']}"),
            {"title": "Shipped", "description": None},
            token,
        )
        assert (code, edited["title"], edited["completed"]) == (200, "Shipped", True)
        code, _, _ = request(
            "DELETE", _tasks(api, ada.user_id, f"/{task['id']}"), token=token
        )
        assert code == 204
        assert request("GET", _tasks(api, ada.user_id), token=token)[2] == []

        # The same user on /api/v1/, with the same Better Auth token.
        code, _, me = request("GET", f"{api}/api/v1/auth/me/", token=token)
        assert (code, me["name"]) == (200, "Ada")


def test_two_users_are_isolated_on_every_route(tmp_path):
    with better_auth_server() as auth, api_server(tmp_path, **api_env(auth)) as api:
        ada, bob = auth.sign_up("Ada"), auth.sign_up("Bob")
        ada_token, bob_token = ada.token(), bob.token()
        _, _, task = request(
            "POST", _tasks(api, ada.user_id), {"title": "A"}, ada_token
        )
        tid = task["id"]

        calls = [
            ("GET", "", None),
            ("POST", "", {"title": "B"}),
            ("GET", f"/{tid}", None),
            ("PUT", f"/{tid}", {"title": "B"}),
            ("PATCH", f"/{tid}", {"completed": True}),
            ("PATCH", f"/{tid}/complete", None),
            ("DELETE", f"/{tid}", None),
        ]
        for method, path, body in calls:
            # Bob naming Ada in the path: 403.
            code, _, _ = request(
                method, _tasks(api, ada.user_id, path), body, bob_token
            )
            assert code == 403, (method, path)
            # Bob in his own name, Ada's task: 404 (the list and create are his own).
            code, _, answer = request(
                method, _tasks(api, bob.user_id, path), body, bob_token
            )
            if path:
                assert code == 404, (method, path, answer)
        code, _, listed = request("GET", _tasks(api, ada.user_id), token=ada_token)
        assert (code, listed) == (200, [task])
        code, _, bobs = request("GET", _tasks(api, bob.user_id), token=bob_token)
        assert [t["title"] for t in bobs] == ["B"]


def test_hs256_mode_with_the_shared_secret(tmp_path):
    with better_auth_server(mode="hs256") as auth:
        env = api_env(
            auth,
            BETTER_AUTH_ALGORITHMS="HS256",
            BETTER_AUTH_SECRET=auth.secret,
        )
        with api_server(tmp_path, **env) as api:
            ada = auth.sign_up("Ada")
            token = ada.token()
            assert jwt.get_unverified_header(token)["alg"] == "HS256"
            code, _, task = request(
                "POST", _tasks(api, ada.user_id), {"title": "hs"}, token
            )
            assert (code, task["user_id"]) == (201, ada.user_id)
            # The secret is BA's, not ours: a token signed with it is not one of ours.
            assert request("GET", f"{api}/api/v1/auth/me/", token=token)[0] == 200


def test_a_rotated_key_is_picked_up_and_the_old_one_keeps_working(tmp_path):
    with (
        better_auth_server(rotation_seconds=2) as auth,
        api_server(tmp_path, **api_env(auth)) as api,
    ):
        ada = auth.sign_up("Ada")
        old = ada.token()
        assert request("GET", _tasks(api, ada.user_id), token=old)[0] == 200
        time.sleep(2.5)
        new = ada.token()  # signing after the interval mints a new key
        assert (
            jwt.get_unverified_header(new)["kid"]
            != (jwt.get_unverified_header(old)["kid"])
        )

        assert request("GET", _tasks(api, ada.user_id), token=new)[0] == 200
        assert request("GET", _tasks(api, ada.user_id), token=old)[0] == 200


def test_the_jwks_server_stopped_known_keys_work_a_cold_start_is_503_then_recovers(
    tmp_path,
):
    database = tmp_path / "auth.sqlite"
    with better_auth_server(database=database) as auth:
        port = int(auth.url.rsplit(":", 1)[1])
        env = api_env(auth)
        ada = auth.sign_up("Ada")
        token = ada.token()
        warm_dir = tmp_path / "warm"
        warm_dir.mkdir()
        with api_server(warm_dir, **env) as warm:
            assert request("GET", _tasks(warm, ada.user_id), token=token)[0] == 200
            auth.stop()
            # Known keys keep working with the JWKS server gone.
            assert request("GET", _tasks(warm, ada.user_id), token=token)[0] == 200

    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()
    with api_server(cold_dir, **env) as cold:
        code, headers, body = request("GET", _tasks(cold, ada.user_id), token=token)
        assert code == 503, body  # never a 401: that would sign the user out
        assert headers["Retry-After"] == "1"
        with better_auth_server(port=port, database=database):
            # It recovers by itself once a refetch is allowed again (1 s here);
            # on a loaded machine the first allowed fetch may come a little later.
            deadline = time.monotonic() + 15
            while True:
                time.sleep(1.1)
                code, _, body = request("GET", _tasks(cold, ada.user_id), token=token)
                if code == 200 or time.monotonic() > deadline:
                    break
                assert code == 503, body  # still never a 401 while it recovers
            assert code == 200, body
