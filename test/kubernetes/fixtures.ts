/** Access settings of the article's vault-unlock cluster, for the Kubernetes adapter's tests. */
import { KubernetesAccess } from "../../adapters/kubernetes/options";

/** Two clusters at documentation addresses (nothing answers there). */
export const KUBECONFIG = `
apiVersion: v1
kind: Config
clusters:
- name: primary
  cluster: { server: "https://203.0.113.10:6443" }
- name: helper
  cluster: { server: "https://203.0.113.20:6443" }
users:
- name: operator
  user: { token: "not-a-real-token" }
contexts:
- name: primary
  context: { cluster: primary, user: operator }
- name: helper
  context: { cluster: helper, user: operator }
current-context: primary
`;

export const ACCESS: KubernetesAccess = {
  kubeconfig: KUBECONFIG,
  namespace: "vault-unlock",
  statefulSet: "vault-unlock",
  replicas: 3,
  port: 8200,
  tls: { caPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", serverName: "vault-unlock-active.vault-unlock.svc" },
  sealConfigMap: "vault-unlock-seal",
  sealTokenSecret: "vault-unlock-transit-token",
};
