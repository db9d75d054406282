/** Copies a folder's files and subfolders. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/**
 * proximal as a project outside this repo uses it from JSR: `tests/jsr_user/` is such a project
 * (its own deno.json maps `@proximal/*` to `jsr:` specifiers, as `deno add jsr:@proximal/algos`
 * writes them). Offline, Deno's `links` point those JSR packages at this workspace's members.
 * The project is copied outside the repo, so nothing resolves through this workspace's import
 * map, and its own tests run there as its author would run them: `deno test -A`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PROJECT = `${ROOT}/tests/jsr_user`;

Deno.test("a user project imports proximal by jsr: specifiers, trains and runs the CLI", async () => {
  const dir = await Deno.makeTempDir({ prefix: "proximal_jsr_user_" });
  try {
    // The members copied without this repo's root deno.json, as JSR serves each package: what
    // a member imports must resolve from its own deno.json.
    const project = `${dir}/project`, packages = `${dir}/packages`;
    await copyTree(PROJECT, project);
    const config = JSON.parse(await Deno.readTextFile(`${project}/deno.json`));
    const links: string[] = [];
    for (const link of config.links as string[]) {
      const member = fileURLToPath(new URL(link, `file://${PROJECT}/`));
      const copy = `${packages}/${member.replace(/\/$/, "").split("/").pop()}`;
      await copyTree(member, copy);
      links.push(copy);
    }
    await Deno.writeTextFile(`${project}/deno.json`, JSON.stringify({ ...config, links }, null, 2));

    const run = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A"],
      cwd: project,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.ok(run.success, output);
    assert.match(output, /ok \| 3 passed \| 0 failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
