// The setup the docker/ integration files share: the Engine as an agent of the test's own sees it
// (a fresh agent id, so nothing else's containers count as its own), one fixture image, and the
// run's containers cleaned up after the file.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll } from "vitest";
import { connectEngine, type OwnedEngine } from "../../agent/docker/engine.js";
import { cleanupTestRun } from "./cleanup.js";
import { fixtureImage, testRunId } from "./images.js";

export interface OwnedEngineSuite {
  run: string;
  docker: Dockerode;
  /** The test's agent: what `ownerLabels` and ownership checks take. */
  me: { agentId: string; recordedDeploy: () => boolean };
  /** Set in beforeAll. */
  engine: OwnedEngine;
  /** The "good" fixture image, built in beforeAll. */
  image: string;
}

/** Registers the file's beforeAll and afterAll; `prefix` names the fixture image's tag. */
export function ownedEngineSuite(prefix: string): OwnedEngineSuite {
  const docker = new Dockerode();
  const run = testRunId();
  const suite = { run, docker, me: { agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false } } as OwnedEngineSuite;
  beforeAll(async () => {
    suite.engine = (await connectEngine("/var/run/docker.sock")).ownedBy(suite.me);
    suite.image = await fixtureImage(docker, "good", `${prefix}-${run}`);
  });
  afterAll(async () => {
    await cleanupTestRun();
  });
  return suite;
}
