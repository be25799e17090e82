/**
 * TEST EQUIPMENT (engine stand-in for the e2e runs, not part of the product): Pulumi's
 * MockMonitor hands `newResource` only the type, name, inputs and provider; the engine also
 * needs the options a real monitor receives (parent, dependencies, protect,
 * additionalSecretOutputs, deleteBeforeReplace, customTimeouts). This subclass reads them
 * from the same RegisterResourceRequest and answers the same way MockMonitor does.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports -- the runtime's untyped internals */

export interface Registration {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent: string;
  /** Inputs as deserialized: secrets still wrapped (values.ts). */
  inputs: Record<string, unknown>;
  /** `urn::id` of the explicit provider, or "". */
  provider: string;
  /** Set for reads (StackReference) and imports. */
  id: string;
  read: boolean;
  protect: boolean;
  additionalSecretOutputs: string[];
  dependencies: string[];
  deleteBeforeReplace: boolean;
  customTimeouts: { create: string; update: string; delete: string };
}

/** gRPC status codes the runtime reads as "the monitor is shutting down" (errors.js isGrpcError). */
const MONITOR_GONE_CODES = [1 /* CANCELLED */, 14 /* UNAVAILABLE */];

/**
 * A step's error as the runtime must see it: one whose `code` is a gRPC shutdown status (a
 * child process's exit status 1 is CANCELLED) makes the runtime skip the rejection of the
 * resource's outputs and disconnect, so the run would neither fail the resource nor go on.
 */
export function asStepError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "number" || !MONITOR_GONE_CODES.includes(code)) return err;
  return new Error((err as Error).message ?? String(err));
}

export type Handler = (r: Registration) => Promise<{ id: string; state: Record<string, unknown> }>;

/** Builds the monitor class on the loaded runtime (loaded lazily, so each run can use fresh modules). */
export function makeMonitor(handler: Handler): unknown {
  const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks");
  const rpc = require("@pulumi/pulumi/runtime/rpc");
  const resproto = require("@pulumi/pulumi/proto/resource_pb");
  const structproto = require("google-protobuf/google/protobuf/struct_pb");

  class EngineMonitor extends MockMonitor {
    async answer(req: any, read: boolean, callback: (err: unknown, resp?: unknown) => void): Promise<void> {
      try {
        const type = req.getType();
        const name = req.getName();
        const urn = (this as any).newUrn(req.getParent(), type, name);
        const t = read ? undefined : req.getCustomtimeouts();
        const reg: Registration = {
          urn,
          type,
          name,
          read,
          custom: read ? true : req.getCustom(),
          parent: req.getParent() ?? "",
          inputs: rpc.deserializeProperties(read ? req.getProperties() : req.getObject()),
          provider: req.getProvider() ?? "",
          id: read ? req.getId() : (req.getImportid() ?? ""),
          protect: read ? false : !!req.getProtect(),
          additionalSecretOutputs: read ? [] : req.getAdditionalsecretoutputsList(),
          dependencies: read ? [] : req.getDependenciesList(),
          deleteBeforeReplace: read ? false : !!req.getDeletebeforereplace(),
          customTimeouts: { create: t?.getCreate() ?? "", update: t?.getUpdate() ?? "", delete: t?.getDelete() ?? "" },
        };
        const result = await handler(reg);
        const serialized = await rpc.serializeProperties("", result.state);
        (this as any).resources.set(urn, { urn, id: result.id ?? null, state: serialized });
        const resp = read ? new resproto.ReadResourceResponse() : new resproto.RegisterResourceResponse();
        resp.setUrn(urn);
        if (!read) resp.setId(result.id || "");
        (read ? resp.setProperties : resp.setObject).call(resp, structproto.Struct.fromJavaScript(serialized));
        callback(null, resp);
      } catch (err) {
        callback(asStepError(err), undefined);
      }
    }
    registerResource(req: any, callback: (err: unknown, resp?: unknown) => void) {
      return this.answer(req, false, callback);
    }
    readResource(req: any, callback: (err: unknown, resp?: unknown) => void) {
      return this.answer(req, true, callback);
    }
  }
  return new (EngineMonitor as unknown as new (mocks: unknown) => unknown)({
    newResource: () => {
      throw new Error("unreachable: the engine monitor answers registrations itself");
    },
    call: (args: { token: string }) => {
      throw new Error(`provider function ${args.token} is not implemented by the engine stand-in`);
    },
  });
}
