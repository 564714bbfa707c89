// A real Better Auth server (email + password, the jwt plugin) for the test suite.
//
// It stands in for a Next.js front end's auth: users sign up and sign in here, and
// get the JWTs the Python API verifies. Configured by the environment:
//   PORT                   port on 127.0.0.1 (required)
//   BETTER_AUTH_URL        its own origin, the tokens' iss and aud (required)
//   BETTER_AUTH_SECRET     32+ bytes (required)
//   DATABASE_PATH          SQLite file (created and migrated at start)
//   TOKEN_MODE             "jwks" (stock EdDSA, keys at /api/auth/jwks) or "hs256"
//                          (signed with BETTER_AUTH_SECRET, as some front ends do)
//   ROTATION_SECONDS       rotate the signing key this often (jwks mode; optional)
//   GRACE_SECONDS          keep retired keys in the JWKS this long (default 30 days)
//   TRUSTED_ORIGINS        extra origins allowed to call it (comma-separated)
// GET / serves a small page that signs a user in here and calls the API named in its
// ?api= query parameter with the JWT, cross-origin: the browser test loads it.
import http from "node:http";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";
import { SignJWT } from "jose";

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const port = Number(required("PORT"));
const baseURL = required("BETTER_AUTH_URL");
const secret = required("BETTER_AUTH_SECRET");
const mode = process.env.TOKEN_MODE || "jwks";
const rotation = Number(process.env.ROTATION_SECONDS || 0);
const grace = Number(process.env.GRACE_SECONDS || 30 * 24 * 3600);

const jwtOptions =
  mode === "hs256"
    ? {
        // The plugin still fills iat, exp, iss and aud; only the signature changes.
        jwks: { remoteUrl: `${baseURL}/unused-jwks`, keyPairConfig: { alg: "EdDSA" } },
        jwt: {
          expirationTime: "7d",
          sign: (payload) =>
            new SignJWT(payload)
              .setProtectedHeader({ alg: "HS256", typ: "JWT" })
              .sign(new TextEncoder().encode(secret)),
        },
      }
    : {
        jwks: rotation ? { rotationInterval: rotation, gracePeriod: grace } : {},
      };

export const auth = betterAuth({
  baseURL,
  secret,
  database: new Database(process.env.DATABASE_PATH || ":memory:"),
  emailAndPassword: { enabled: true, requireEmailVerification: false },
  trustedOrigins: (process.env.TRUSTED_ORIGINS || "").split(",").filter(Boolean),
  telemetry: { enabled: false },
  plugins: [jwt(jwtOptions)],
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

const handler = toNodeHandler(auth);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>tasks</title></head>
<body><pre id="log"></pre><script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
async function run() {
  const api = new URLSearchParams(location.search).get("api");
  const email = "browser-" + Date.now() + "@example.com";
  const up = await fetch("/api/auth/sign-up/email", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({email, password: "a-long-password-1", name: "Browser User"}),
  });
  if (!up.ok) throw new Error("sign-up " + up.status);
  const me = (await up.json()).user;
  const {token} = await (await fetch("/api/auth/token")).json();
  const call = async (method, path, body) => {
    const response = await fetch(api + "/api/" + me.id + "/tasks" + path, {
      method,
      headers: {Authorization: "Bearer " + token,
                ...(body ? {"Content-Type": "application/json"} : {})},
      body: body ? JSON.stringify(body) : undefined,
    });
    log(method + " " + path + " " + response.status);
    return response.status === 204 ? null : response.json();
  };
  const created = await call("POST", "", {title: "from the browser"});
  const toggled = await call("PATCH", "/" + created.id + "/complete");
  const listed = await call("GET", "");
  const etag = (await fetch(api + "/api/v1/tasks/" + created.id + "/", {
    headers: {Authorization: "Bearer " + token}})).headers.get("ETag");
  await call("DELETE", "/" + created.id);
  const after = await call("GET", "");
  const other = await fetch(api + "/api/someone-else/tasks",
    {headers: {Authorization: "Bearer " + token}});
  return {user: me.id, created, toggled, listed, after, etag, other: other.status};
}
run().then(
  (result) => { window.RESULT = result; log("DONE"); },
  (error) => { window.RESULT = {error: String(error)}; log("ERROR " + error); },
);
</script></body></html>`;

http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/auth")) return handler(req, res);
    if (req.url === "/healthz") return res.end("ok");
    if (req.url === "/" || req.url.startsWith("/?")) {
      res.setHeader("Content-Type", "text/html; charset=utf-8");
      return res.end(PAGE);
    }
    res.statusCode = 404;
    res.end();
  })
  .listen(port, "127.0.0.1", () => console.log(`better-auth listening on ${port}`));
