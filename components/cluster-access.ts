/**
 * How the dynamic providers reach the pods of a VaultCluster from wherever `pulumi up` runs:
 * port-forwards through the Kubernetes API server with only the kubeconfig (kind
 * "kubernetes" of providers/node-access.ts). TLS stays verified: the pods' CA and a name in
 * their certificate.
 */
import * as pulumi from "@pulumi/pulumi";
import { activeServiceHost, vaultNames } from "../adapters/kubernetes/names";
import { NodeAccessArgs } from "../providers/node-access";
import { API_PORT } from "./vault-config";

export interface ClusterAccessArgs {
  /** kubeconfig content (secret: it holds credentials). */
  kubeconfig: pulumi.Input<string>;
  context?: pulumi.Input<string>;
  namespace: pulumi.Input<string>;
  /** VaultCluster clusterName (the StatefulSet and the prefix of its objects). */
  clusterName: string;
  replicas: pulumi.Input<number>;
  /** CA of the pods' server certificates, and a name in them. */
  caPem: pulumi.Input<string>;
  serverName: pulumi.Input<string>;
  /** The providers' client certificate (secret: it holds the key), for pods that require one (requireClientCert). */
  client?: pulumi.Input<{ certPem: string; keyPem: string }>;
}

export function clusterAccess(a: ClusterAccessArgs): NodeAccessArgs {
  const names = vaultNames(a.clusterName);
  return {
    kind: "kubernetes",
    kubeconfig: pulumi.secret(a.kubeconfig),
    context: a.context as pulumi.Input<string>,
    namespace: a.namespace,
    statefulSet: names.statefulSet,
    replicas: a.replicas,
    port: API_PORT,
    tls: pulumi
      .all([a.caPem, a.serverName, a.client])
      .apply(([caPem, serverName, client]) =>
        client ? { caPem, serverName, certPem: client.certPem, keyPem: client.keyPem } : { caPem, serverName },
      ),
    sealConfigMap: names.sealConfigMap,
    sealTokenSecret: names.transitTokenSecret,
  };
}

/** The name in a VaultCluster's certificate the providers check: its active Service's DNS name. */
export const activeServerName = (clusterName: string, namespace: pulumi.Input<string>) =>
  pulumi.output(namespace).apply((ns) => activeServiceHost(clusterName, ns));
