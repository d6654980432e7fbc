package validate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
)

// Paths are relative to this package's folder, where go test runs.
const (
	knativeDir       = "../knative"
	networkPolicy    = "../openfaas/network-policy.yaml"
	badService       = "testdata/bad-service.yaml"
	badNamespaces    = "testdata/bad-namespaces.yaml"
	badNetworkPolicy = "testdata/bad-network-policies.yaml"
)

// schemaOnly are the kinds in knative/ whose Go types are not served by the module proxy
// (knative.dev/eventing, eventing-kafka-broker): the CRD schema test in eventing/ checks them.
var schemaOnly = map[string]bool{
	"sources.knative.dev/v1 KafkaSource":      true,
	"sources.knative.dev/v1 PingSource":       true,
	"eventing.knative.dev/v1alpha1 KafkaSink": true,
}

// TestMain sets what Knative's controller pods have in their environment: the revision
// reconciler's code reads its namespace (serving-core.yaml installs it in knative-serving).
func TestMain(m *testing.M) {
	os.Setenv("SYSTEM_NAMESPACE", "knative-serving")
	os.Exit(m.Run())
}

func MustReadDocuments(tb testing.TB, root string) []Document {
	tb.Helper()
	docs, err := ReadDocuments(root)
	if err != nil {
		tb.Fatal(err)
	}
	if len(docs) == 0 {
		tb.Fatalf("no manifests under %s", root)
	}
	return docs
}

func byKind(docs []Document, apiVersion, kind string) []Document {
	var out []Document
	for _, d := range docs {
		if d.APIVersion == apiVersion && d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// MustNamespacePolicy is the Pod Security policy of the one namespace knative/ creates.
func MustNamespacePolicy(tb testing.TB, docs []Document) psaapi.Policy {
	tb.Helper()
	nss := byKind(docs, "v1", "Namespace")
	if len(nss) != 1 {
		tb.Fatalf("knative/ defines %d namespaces, want 1", len(nss))
	}
	_, pol, err := NamespacePolicy(nss[0])
	if err != nil {
		tb.Fatal(err)
	}
	return pol
}

func TestEveryKnativeKindIsChecked(t *testing.T) {
	for _, d := range MustReadDocuments(t, knativeDir) {
		switch k := d.APIVersion + " " + d.Kind; {
		case k == "serving.knative.dev/v1 Service", k == "v1 Namespace", schemaOnly[k]:
		default:
			t.Errorf("%s: no check here for %s; add one, or list it in schemaOnly if its Go types cannot be had", d, k)
		}
	}
}

// TestKnativeServicesPassTheWebhook: every Service is accepted by Serving's own SetDefaults and
// Validate without an error or a warning.
func TestKnativeServicesPassTheWebhook(t *testing.T) {
	services := byKind(MustReadDocuments(t, knativeDir), "serving.knative.dev/v1", "Service")
	if len(services) == 0 {
		t.Fatal("no Knative Services under knative/")
	}
	for _, d := range services {
		if _, err := AdmitService(context.Background(), d); err != nil {
			t.Errorf("%s:%v", d, err)
		}
	}
}

// TestRevisionPodsAreAdmitted: the namespace enforces the "restricted" Pod Security Standard, and
// the pod Knative builds for each Service, queue-proxy included, passes it.
func TestRevisionPodsAreAdmitted(t *testing.T) {
	docs := MustReadDocuments(t, knativeDir)
	pol := MustNamespacePolicy(t, docs)
	if pol.Enforce.Level != psaapi.LevelRestricted {
		t.Errorf("the namespace enforces %q, want %q", pol.Enforce.Level, psaapi.LevelRestricted)
	}
	for _, d := range byKind(docs, "serving.knative.dev/v1", "Service") {
		svc, err := AdmitService(context.Background(), d)
		if err != nil {
			t.Errorf("%s:%v", d, err)
			continue
		}
		meta, spec, err := RevisionPod(context.Background(), svc)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if len(spec.Containers) != 2 {
			t.Errorf("%s: the revision's pod has containers %v, want the function and queue-proxy", d, containerNames(spec))
		}
		for _, lv := range []psaapi.LevelVersion{pol.Enforce, pol.Warn, pol.Audit} {
			if err := CheckPod(lv, meta, spec); err != nil {
				t.Errorf("%s: the revision's pod %v", d, err)
			}
		}
	}
}

func containerNames(spec *corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	return names
}

// TestBadServiceIsRefused shows the checks above have teeth: a Service as this project's were
// before hardening, plus two values Knative refuses, fails the webhook and the namespace's policy.
func TestBadServiceIsRefused(t *testing.T) {
	docs := MustReadDocuments(t, badService)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", badService, len(docs))
	}
	_, err := AdmitService(context.Background(), docs[0])
	p, ok := err.(*Problems)
	if !ok {
		t.Fatalf("AdmitService(%s) = %v, want errors and warnings", badService, err)
	}
	for _, want := range []string{"containerConcurrency", "timeoutSeconds"} {
		if !anyContains(p.Errors, want) {
			t.Errorf("no error about %s in %v", want, p.Errors)
		}
	}
	for _, want := range []string{"runAsNonRoot", "allowPrivilegeEscalation", "capabilities", "seccompProfile"} {
		if !anyContains(p.Warnings, want) {
			t.Errorf("no warning about an insecure default %s in %v", want, p.Warnings)
		}
	}

	// The pod it would run, with the values Knative refused put right, breaks "restricted".
	docs[0].JSON = []byte(strings.NewReplacer(`"containerConcurrency":5000`, `"containerConcurrency":5`,
		`"timeoutSeconds":3600`, `"timeoutSeconds":20`).Replace(string(docs[0].JSON)))
	svc, err := AdmitService(context.Background(), docs[0])
	if p, ok := err.(*Problems); !ok || len(p.Errors) > 0 {
		t.Fatalf("after the fix, AdmitService = %v, want warnings only", err)
	}
	meta, spec, err := RevisionPod(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	err = CheckPod(restricted, meta, spec)
	for _, want := range []string{"allowPrivilegeEscalation", "capabilities", "runAsNonRoot", "seccompProfile"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPod = %v, want a violation of %s", err, want)
		}
	}
}

// TestBadNamespacesAreRefused: a namespace that would admit any pod is caught.
func TestBadNamespacesAreRefused(t *testing.T) {
	docs := MustReadDocuments(t, badNamespaces)
	if len(docs) < 2 {
		t.Fatalf("%s: %d documents, want the bad cases", badNamespaces, len(docs))
	}
	for _, d := range docs {
		name, pol, err := NamespacePolicy(d)
		if err == nil && pol.Enforce.Level == psaapi.LevelRestricted {
			t.Errorf("%s: namespace %s passed with %v", d, name, pol)
			continue
		}
		t.Logf("refused as it should be: %s: %v (policy %v)", name, err, pol.Enforce)
	}
}

func TestOpenFaaSNetworkPolicy(t *testing.T) {
	nps := byKind(MustReadDocuments(t, networkPolicy), "networking.k8s.io/v1", "NetworkPolicy")
	if len(nps) != 1 {
		t.Fatalf("%d NetworkPolicies under openfaas/, want 1", len(nps))
	}
	if err := CheckGatewayOnly(nps[0], FunctionNamespace, GatewayNamespace, GatewayLabels); err != nil {
		t.Error(err)
	}
}

func TestBadNetworkPoliciesAreRefused(t *testing.T) {
	docs := MustReadDocuments(t, badNetworkPolicy)
	if len(docs) < 4 {
		t.Fatalf("%s: %d documents, want the bad cases", badNetworkPolicy, len(docs))
	}
	for _, d := range docs {
		err := CheckGatewayOnly(d, FunctionNamespace, GatewayNamespace, GatewayLabels)
		if err == nil {
			t.Errorf("%s was accepted", d)
			continue
		}
		t.Logf("refused as it should be: %v", err)
	}
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestDeployRaisesTheConcurrencyLimit: the webhook here accepts containerConcurrency up to
// ContainerConcurrencyMaxLimit only because docs/deploy.md has the cluster's config-defaults say so.
func TestDeployRaisesTheConcurrencyLimit(t *testing.T) {
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`'{"data":{"container-concurrency-max-limit":"%d"}}'`, ContainerConcurrencyMaxLimit)
	if !strings.Contains(string(doc), "kubectl patch configmap/config-defaults -n knative-serving --type merge \\\n  -p "+want) {
		t.Errorf("docs/deploy.md does not patch config-defaults with %s", want)
	}
}
