// kv.mjs is an unmodified @azure/keyvault-secrets workload: the credential
// is @azure/identity's WorkloadIdentityCredential, configured by the
// environment the workload identity webhook injects (AZURE_CLIENT_ID,
// AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST), and
// the client is a SecretClient with default options: the SDK's own bearer
// challenge and challenge-resource verification. Trust in wif's CA comes
// from NODE_EXTRA_CA_CERTS.
//
// The only non-default option is disableInstanceDiscovery, which any
// authority other than login.microsoftonline.com needs (JS has no
// environment variable for it).
//
//   AZURE_KEYVAULT_URL=https://myvault.vault.localhost:8443 node kv.mjs get NAME
//   AZURE_KEYVAULT_URL=... node kv.mjs scenario PREFIX
//
// "get" prints {"name","value","version","id"}. "scenario" runs every
// operation on secrets named PREFIX-*, printing one JSON line per step
// ({"step":..., ...}); a failure prints {"step":..., "error":{"statusCode","code","message"}}
// and exits with status 1.
import { WorkloadIdentityCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const vaultUrl = process.env.AZURE_KEYVAULT_URL;
if (!vaultUrl) {
  console.error("AZURE_KEYVAULT_URL is required");
  process.exit(2);
}
const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true });
const client = new SecretClient(vaultUrl, credential);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// props keeps what the tests compare, in a stable shape.
function props(p) {
  return {
    id: p.id,
    name: p.name,
    version: p.version,
    vaultUrl: p.vaultUrl,
    enabled: p.enabled,
    contentType: p.contentType ?? null,
    tags: p.tags ?? {},
    createdOn: p.createdOn?.toISOString() ?? null,
    updatedOn: p.updatedOn?.toISOString() ?? null,
    recoveryLevel: p.recoveryLevel ?? null,
    recoverableDays: p.recoverableDays ?? null,
  };
}

async function step(name, fn) {
  try {
    const out = await fn();
    emit({ step: name, ...out });
  } catch (e) {
    emit({ step: name, error: { statusCode: e.statusCode ?? null, code: e.code ?? null, message: String(e.message ?? e) } });
    process.exitCode = 1;
    throw e;
  }
}

async function scenario(prefix) {
  const a = `${prefix}-a`;
  const b = `${prefix}-b`;
  const c = `${prefix}-c`;
  let v1;
  await step("set", async () => {
    const s = await client.setSecret(a, "value-one", { contentType: "text/plain", tags: { env: "test" } });
    v1 = s.properties.version;
    return { value: s.value, properties: props(s.properties) };
  });
  await step("set-version-2", async () => {
    const s = await client.setSecret(a, "value-two");
    return { value: s.value, properties: props(s.properties) };
  });
  await step("get", async () => {
    const s = await client.getSecret(a);
    return { value: s.value, properties: props(s.properties) };
  });
  await step("get-version", async () => {
    const s = await client.getSecret(a, { version: v1 });
    return { value: s.value, properties: props(s.properties) };
  });
  await step("set-others", async () => {
    await client.setSecret(b, "bee");
    await client.setSecret(c, "sea");
    return {};
  });
  await step("list", async () => {
    const names = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    return { names: names.sort() };
  });
  await step("list-versions", async () => {
    const versions = [];
    for await (const p of client.listPropertiesOfSecretVersions(a)) versions.push(p.version);
    return { versions: versions.sort() };
  });
  await step("update", async () => {
    const p = await client.updateSecretProperties(a, v1, { contentType: "application/json", enabled: false, tags: { env: "prod", team: "a" } });
    return { properties: props(p) };
  });
  await step("get-disabled", async () => {
    try {
      await client.getSecret(a, { version: v1 });
      return { unexpected: "a disabled version was readable" };
    } catch (e) {
      return { statusCode: e.statusCode, code: e.code };
    }
  });
  await step("delete", async () => {
    const poller = await client.beginDeleteSecret(b);
    const d = await poller.pollUntilDone();
    return { name: d.name, recoveryId: d.recoveryId, deletedOn: d.properties.deletedOn?.toISOString() ?? null,
      scheduledPurgeDate: d.properties.scheduledPurgeDate?.toISOString() ?? null };
  });
  await step("get-deleted", async () => {
    const d = await client.getDeletedSecret(b);
    return { name: d.name, recoveryId: d.recoveryId, deletedOn: d.properties.deletedOn?.toISOString() ?? null,
      scheduledPurgeDate: d.properties.scheduledPurgeDate?.toISOString() ?? null };
  });
  await step("list-deleted", async () => {
    const names = [];
    for await (const d of client.listDeletedSecrets()) names.push(d.name);
    return { names: names.sort() };
  });
  await step("recover", async () => {
    const poller = await client.beginRecoverDeletedSecret(b);
    const p = await poller.pollUntilDone();
    const s = await client.getSecret(b);
    return { name: p.name, value: s.value };
  });
  let backup;
  await step("backup", async () => {
    backup = await client.backupSecret(c);
    return { bytes: backup.length };
  });
  await step("delete-purge", async () => {
    const poller = await client.beginDeleteSecret(c);
    await poller.pollUntilDone();
    await client.purgeDeletedSecret(c);
    let after = null;
    try {
      await client.getDeletedSecret(c);
    } catch (e) {
      after = e.statusCode;
    }
    return { getDeletedAfterPurge: after };
  });
  await step("restore", async () => {
    const p = await client.restoreSecretBackup(backup);
    const s = await client.getSecret(c);
    return { name: p.name, value: s.value };
  });
}

const [cmd, arg] = process.argv.slice(2);
try {
  if (cmd === "get" && arg) {
    const s = await client.getSecret(arg);
    emit({ name: s.name, value: s.value, version: s.properties.version, id: s.properties.id });
  } else if (cmd === "scenario" && arg) {
    await scenario(arg);
  } else {
    console.error("usage: node kv.mjs get NAME | scenario PREFIX");
    process.exit(2);
  }
} catch (e) {
  console.error(e?.stack ?? String(e));
  if (cmd === "get") {
    emit({ error: { statusCode: e.statusCode ?? null, code: e.code ?? null, message: String(e.message ?? e) } });
  }
  process.exit(1);
}
