/**
 * Transit over TLS: the seal verifies the unsealer's certificate against tls_ca_cert and
 * presents a client certificate. A wrong CA, a missing client certificate and an
 * unreachable peer each give an error that says what to fix (the article's main trouble).
 */
import * as path from "path";
import { LocalCluster, NodeExitedError } from "../../adapters/local/local-cluster";
import { LocalPki } from "../../adapters/local/pki";
import { VaultTlsError, VaultUnreachableError } from "../../core/errors";
import { TransitSeal } from "../../core/render/seal";

import { initCluster } from "../../core/steps/init";
import { checkTransitPeer } from "../../core/steps/peer-gate";
import { waitClusterUnsealed } from "../../core/steps/unseal";
import { Lab, newLab } from "../support/servers";
import { Unsealer, unsealer } from "../support/pair";

jest.setTimeout(120_000);

let lab: Lab;
let u: Unsealer;
let sealed: LocalCluster;
let otherCa: LocalPki;

function seal(over: Partial<TransitSeal> = {}): TransitSeal {
  return {
    type: "transit",
    address: u.cluster.address(u.cluster.nodeIds()[0]),
    keyName: "autounseal",
    mountPath: "transit/",
    tlsCaCert: lab.pki.caFile,
    tlsClientCert: sealed.clientCert.certFile,
    tlsClientKey: sealed.clientCert.keyFile,
    tlsServerName: "unsealer",
    ...over,
  };
}

beforeAll(async () => {
  lab = await newLab("tls");
  u = await unsealer(lab);
  sealed = await lab.cluster({ name: "sealed", size: 1, seal: { stanzas: [] } });
  otherCa = await LocalPki.create(path.join(lab.dir, "other-pki"), "some other CA");
});
afterAll(() => lab?.destroy());

test("with the right CA and a client certificate, a transit-sealed node inits and auto-unseals, its token not in its config file", async () => {
  await expect(checkTransitPeer(seal(), u.link.token)).resolves.toBeUndefined();
  await sealed.applySeal({ stanzas: [seal()], transitToken: u.link.token });
  await sealed.startAll();
  const init = await initCluster(sealed.client(sealed.nodeIds()[0]), { kind: "recovery", shares: 1, threshold: 1 });
  expect(init.keys).toHaveLength(1);
  await waitClusterUnsealed(sealed, { timeoutMs: 30_000 });
  // The token never reaches the config file: it travels in the environment.
  expect(sealed.renderConfig(sealed.nodeIds()[0])).not.toContain(u.link.token);
});

test("a CA that did not issue the unsealer's certificate: the check names the CA file, the server refuses to start", async () => {
  const wrong = seal({ tlsCaCert: otherCa.caFile });
  const err = await checkTransitPeer(wrong, u.link.token).catch((e) => e);
  expect(err).toBeInstanceOf(VaultTlsError);
  expect(err.message).toContain("not signed by a CA we trust");
  expect(err.message).toContain(otherCa.caFile);
  expect(err.message).toContain("tls_ca_cert");

  await sealed.applySeal({ stanzas: [wrong], transitToken: u.link.token });
  const id = sealed.nodeIds()[0];
  await sealed.stop(id);
  const exit = await sealed.start(id, { skipPeerGate: true }).catch((e) => e);
  expect(exit).toBeInstanceOf(NodeExitedError);
  expect(exit.logTail).toMatch(/certificate signed by unknown authority/);
});

test("no client certificate where the unsealer requires one: the check says to give one", async () => {
  const noCert = seal({ tlsClientCert: undefined, tlsClientKey: undefined });
  const err = await checkTransitPeer(noCert, u.link.token).catch((e) => e);
  expect(err).toBeInstanceOf(VaultTlsError);
  expect(err.message).toMatch(/requires a client certificate/);
});

test("a name the unsealer's certificate does not carry: the check says which name to fix", async () => {
  const err = await checkTransitPeer(seal({ tlsServerName: "not-the-unsealer" }), u.link.token).catch((e) => e);
  expect(err).toBeInstanceOf(VaultTlsError);
  expect(err.message).toContain(`does not name "not-the-unsealer"`);
});

test("an unreachable peer: the check says so, the peer gate holds the node, the server alone would exit", async () => {
  await u.cluster.stopAll();
  const err = await checkTransitPeer(seal(), u.link.token).catch((e) => e);
  expect(err).toBeInstanceOf(VaultUnreachableError);
  expect(err.message).toMatch(/is unreachable \(ECONNREFUSED\): check that the server is running/);

  await sealed.applySeal({ stanzas: [seal()], transitToken: u.link.token });
  const id = sealed.nodeIds()[0];
  const exit = await sealed.start(id, { skipPeerGate: true }).catch((e) => e);
  expect(exit).toBeInstanceOf(NodeExitedError);
  expect(exit.code).toBe(1);
  expect(exit.logTail).toMatch(/connection refused/);

  // With the peer gate the node is not even started: it waits, and says what it waits for.
  const gated = await lab.cluster({
    name: "gated",
    size: 1,
    seal: { stanzas: [seal()], transitToken: u.link.token },
    peerGate: { timeoutMs: 1500 },
  });
  const held = await gated.start(gated.nodeIds()[0]).catch((e) => e);
  expect(held.message).toMatch(/timed out after 1500 ms waiting for transit peer .* is unreachable \(ECONNREFUSED\)/);
  expect(gated.isRunning(gated.nodeIds()[0])).toBe(false);
});
