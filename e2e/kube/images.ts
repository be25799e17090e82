/**
 * Test equipment: container images built locally as OCI archives (no registry is reachable
 * here) and imported into every node's containerd under fully qualified names.
 *
 * The OpenBao image holds the pinned `bao` binary the real-server tests run plus a busybox
 * userland, and honours the contract of the official `openbao/openbao` image (2.6 and later,
 * Alpine) in everything the manifests rely on (README "The end-to-end run" lists it): USER
 * `openbao` uid 100 in group `openbao` gid 1000, `bao` at /usr/bin/bao with a `vault` link,
 * /bin/sh and busybox's tools, /openbao/{config,file,logs} and /home/openbao owned by that
 * user, a dev server as the default command. The manifests bypass the official entrypoint
 * script (`/bin/sh -ec "exec bao server …"`), so it is not reproduced: ENTRYPOINT is `bao`. Layers are reproducible (sorted, mtime 0, numeric owners), so a rebuild gives the
 * same digest and a re-import changes nothing.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CACHE_DIR, IMAGES } from "./layout";
import { run } from "./processes";

const BUSYBOX = "/bin/busybox";

interface ImageSpec {
  ref: string;
  /** [source file on this machine, path in the image, mode] */
  files: [string, string, number][];
  /** [link target, path in the image] */
  links?: [string, string][];
  dirs: [string, number, number?, number?][];
  etc?: Record<string, string>;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
}

function busyboxBinary(): string {
  for (const f of ["/bin/busybox", "/usr/bin/busybox"])
    if (fs.existsSync(f) && run("file", ["-b", f], { allowFail: true }).includes("static")) return f;
  throw new Error("busybox-static is not installed (apt-get install busybox-static): the images' userland is a static busybox");
}

function layerFrom(spec: ImageSpec, work: string): string {
  const rootfs = path.join(work, "rootfs");
  fs.mkdirSync(rootfs, { recursive: true });
  const busybox = busyboxBinary();
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true });
  fs.copyFileSync(busybox, path.join(rootfs, BUSYBOX));
  fs.chmodSync(path.join(rootfs, BUSYBOX), 0o755);
  for (const applet of run(busybox, ["--list"])
    .split("\n")
    .filter((a) => a && a !== "busybox")) {
    const link = path.join(rootfs, "bin", applet);
    if (!fs.existsSync(link)) fs.symlinkSync("busybox", link);
  }
  for (const [src, dst, mode] of spec.files) {
    fs.mkdirSync(path.dirname(path.join(rootfs, dst)), { recursive: true });
    fs.copyFileSync(src, path.join(rootfs, dst));
    fs.chmodSync(path.join(rootfs, dst), mode);
  }
  for (const [target, link] of spec.links ?? []) fs.symlinkSync(target, path.join(rootfs, link));
  for (const [dir, mode, uid, gid] of spec.dirs) {
    fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
    fs.chmodSync(path.join(rootfs, dir), mode);
    if (uid !== undefined) fs.chownSync(path.join(rootfs, dir), uid, gid ?? uid);
  }
  for (const [file, text] of Object.entries(spec.etc ?? {})) {
    fs.mkdirSync(path.join(rootfs, "etc"), { recursive: true });
    fs.writeFileSync(path.join(rootfs, "etc", file), text);
  }
  const layer = path.join(work, "layer.tar");
  run("tar", ["--sort=name", "--mtime=@0", "--numeric-owner", "-C", rootfs, "-cf", layer, "."]);
  return layer;
}

/** Writes the OCI archive of `spec` to `out`. */
function buildImage(spec: ImageSpec, out: string): void {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "vmu-image-"));
  try {
    const blobs = path.join(work, "oci", "blobs", "sha256");
    fs.mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer) => {
      const digest = createHash("sha256").update(data).digest("hex");
      fs.writeFileSync(path.join(blobs, digest), data);
      return { digest: `sha256:${digest}`, size: data.length };
    };
    const layer = put(fs.readFileSync(layerFrom(spec, work)));
    const config = put(
      Buffer.from(
        JSON.stringify({
          architecture: "amd64",
          os: "linux",
          config: { Env: spec.env, Entrypoint: spec.entrypoint, Cmd: spec.cmd, User: spec.user },
          rootfs: { type: "layers", diff_ids: [layer.digest] },
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
          layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
        }),
      ),
    );
    fs.writeFileSync(path.join(work, "oci", "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    fs.writeFileSync(
      path.join(work, "oci", "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            annotations: { "io.containerd.image.name": spec.ref, "org.opencontainers.image.ref.name": spec.ref.split(":").pop() },
          },
        ],
      }),
    );
    run("tar", ["--sort=name", "--mtime=@0", "--numeric-owner", "-C", path.join(work, "oci"), "-cf", out, "."]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const PATH_ENV = "PATH=/bin:/usr/bin:/sbin:/usr/sbin";
const OPENBAO_UID = 100;
const OPENBAO_GID = 1000;

/** The images every node gets, built into the cache once per `bao` binary. Returns the archives. */
export function buildImages(baoBin: string): string[] {
  const baoDigest = createHash("sha256").update(fs.readFileSync(baoBin)).digest("hex").slice(0, 16);
  const dir = path.join(CACHE_DIR, "images", baoDigest);
  const specs: [string, ImageSpec][] = [
    ["pause.tar", { ref: IMAGES.pause, files: [], dirs: [], env: [PATH_ENV], entrypoint: [BUSYBOX, "sleep", "2147483647"] }],
    [
      "openbao.tar",
      {
        ref: IMAGES.openbao,
        files: [[baoBin, "/usr/bin/bao", 0o555]],
        links: [["bao", "/usr/bin/vault"]],
        dirs: [
          ["/tmp", 0o1777],
          ...["/openbao/config", "/openbao/file", "/openbao/logs", "/home/openbao"].map((d): [string, number, number, number] => [
            d,
            0o755,
            OPENBAO_UID,
            OPENBAO_GID,
          ]),
        ],
        etc: {
          passwd: `root:x:0:0:root:/root:/bin/sh\nopenbao:x:${OPENBAO_UID}:${OPENBAO_GID}:openbao:/home/openbao:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n`,
          group: `root:x:0:\nopenbao:x:${OPENBAO_GID}:openbao\nnobody:x:65534:\n`,
        },
        env: [PATH_ENV],
        user: "openbao",
        entrypoint: ["/usr/bin/bao"],
        cmd: ["server", "-dev", "-dev-no-store-token"],
      },
    ],
  ];
  fs.mkdirSync(dir, { recursive: true });
  return specs.map(([file, spec]) => {
    const out = path.join(dir, file);
    if (!fs.existsSync(out)) {
      buildImage(spec, `${out}.partial`);
      fs.renameSync(`${out}.partial`, out);
    }
    return out;
  });
}
