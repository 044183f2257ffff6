// The switch confirmation through Traefik's API over https (a private CA, basic auth in the URL) and
// plain http, against real loopback servers answering as Traefik's /api/http/{routers,services}/<name>@docker do.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../agent/errors.js";
import { traefikApi } from "../../agent/traefik/api.js";

const NAME = "tapi-web-blue";
const SERVER = "http://10.9.8.7:8000";
const AUTH = `Basic ${Buffer.from("ops:s3cret").toString("base64")}`;

let dir: string;
let cert: string;
let secure: https.Server;
let plain: http.Server;
let securePort: number;
let plainPort: number;
const seen: { auth?: string | undefined; url?: string | undefined }[] = [];

/** Answers as Traefik does once green is routed; 401 without the right basic auth when `needAuth`. */
function traefikLike(needAuth: boolean): http.RequestListener {
  return (req, res) => {
    seen.push({ auth: req.headers.authorization, url: req.url });
    if (needAuth && req.headers.authorization !== AUTH) return void res.writeHead(401).end();
    const body =
      req.url === `/api/http/routers/${NAME}@docker`
        ? { status: "enabled", service: NAME }
        : req.url === `/api/http/services/${NAME}@docker`
          ? { loadBalancer: { servers: [{ url: SERVER }] } }
          : undefined;
    if (!body) return void res.writeHead(404).end("404 page not found\n");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

async function failure(work: Promise<unknown>): Promise<AgentError> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "da-traefik-api-"));
  // A self-signed certificate for 127.0.0.1, standing in for the CA a private Traefik API is signed by.
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
  secure = https.createServer({ key: readFileSync(join(dir, "key.pem")), cert }, traefikLike(true));
  plain = http.createServer(traefikLike(false));
  [securePort, plainPort] = await Promise.all([listen(secure), listen(plain)]);
});

afterAll(() => {
  secure.close();
  plain.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("confirming a switch through Traefik's API", () => {
  it("works over https with basic auth from the URL", async () => {
    const port = securePort;
    seen.length = 0;
    await traefikApi(`https://ops:s3cret@127.0.0.1:${port}/`, { ca: cert }).waitForServer(NAME, SERVER, { deadlineMs: 5000 });
    expect(seen.map((s) => s.auth)).toEqual([AUTH, AUTH]);
  });

  it("names an https API whose certificate it cannot verify, without the password", async () => {
    const port = securePort;
    const err = await failure(traefikApi(`https://ops:s3cret@127.0.0.1:${port}`).waitForServer(NAME, SERVER, { deadlineMs: 300, pollMs: 50 }));
    expect(err.code).toBe("GREEN_UNHEALTHY");
    expect(err.message).toContain(`Traefik at https://ops:***@127.0.0.1:${port} did not route to ${SERVER}`);
    expect(err.message).toMatch(/SELF_SIGNED|self.signed/i);
    expect(err.message).not.toContain("s3cret");
  });

  it("works over plain http", async () => {
    const port = plainPort;
    await traefikApi(`http://127.0.0.1:${port}`).waitForServer(NAME, SERVER, { deadlineMs: 5000 });
    const err = await failure(traefikApi(`http://127.0.0.1:${port}`).waitForServer("tapi-other-green", SERVER, { deadlineMs: 300, pollMs: 50 }));
    expect(err.message).toContain("router tapi-other-green@docker: absent");
  });
});
