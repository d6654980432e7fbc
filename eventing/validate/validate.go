// Package validate runs the platforms' own admission code over the manifests in eventing/: Knative
// Serving's defaulting and validation, as its webhook applies them when a Service is created, and
// Kubernetes' Pod Security Admission checks, as the API server applies them to the pods a namespace
// admits. The CRD schema checks in eventing/ cannot see either: a schema says which fields exist,
// not which values Knative refuses or warns about, nor what the "restricted" Pod Security Standard
// forbids.
//
// It is a Go module of its own (see go.mod) and runs in `make test`.
package validate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	netcfg "knative.dev/networking/pkg/config"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/metrics"
	tracingconfig "knative.dev/pkg/tracing/config"
	kjson "knative.dev/pkg/webhook/json"
	"knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/deployment"
	configresources "knative.dev/serving/pkg/reconciler/configuration/resources"
	revisionconfig "knative.dev/serving/pkg/reconciler/revision/config"
	revisionresources "knative.dev/serving/pkg/reconciler/revision/resources"
	serviceresources "knative.dev/serving/pkg/reconciler/service/resources"
	"sigs.k8s.io/yaml"
)

// Document is one YAML document of a manifest file, converted to JSON as kubectl sends it.
type Document struct {
	Path  string // slash-separated, as given to ReadDocuments
	Index int    // position in its file, from 0
	JSON  []byte
	metav1.TypeMeta
}

func (d Document) String() string {
	return fmt.Sprintf("%s#%d (%s %s)", d.Path, d.Index, d.APIVersion, d.Kind)
}

// ReadDocuments reads every document of every *.yaml or *.yml file under root (a folder or a
// file). Documents holding only comments are skipped; one without apiVersion and kind is an error.
func ReadDocuments(root string) ([]Document, error) {
	var docs []Document
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); d.IsDir() || (ext != ".yaml" && ext != ".yml") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for i := 0; ; i++ {
			chunk, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			js, err := yaml.YAMLToJSONStrict(chunk)
			if err != nil {
				return fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
				continue
			}
			doc := Document{Path: filepath.ToSlash(path), Index: i, JSON: js}
			if err := kjson.Decode(js, &doc.TypeMeta, false); err != nil {
				return fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			if doc.APIVersion == "" || doc.Kind == "" {
				return fmt.Errorf("%s: document %d: apiVersion and kind are required", path, i)
			}
			docs = append(docs, doc)
		}
		return nil
	})
	return docs, err
}

// Problems are what an admission step reported: errors refuse the object, warnings are printed by
// kubectl and let it through. This project treats both as failures.
type Problems struct {
	Errors   []string
	Warnings []string
}

func (p *Problems) Error() string {
	var b strings.Builder
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  error: %s", e)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "\n  warning: %s", w)
	}
	return b.String()
}

func (p *Problems) orNil() error {
	if len(p.Errors) == 0 && len(p.Warnings) == 0 {
		return nil
	}
	return p
}

// ContainerConcurrencyMaxLimit is config-defaults' container-concurrency-max-limit as
// docs/deploy.md has the operator set it (Knative's own default is 1000): process-payment takes
// 1,700 calls a pod (docs/deploy.md, "Sizing for 200 payments/s"), and its max-scale is pinned to
// the partition count.
const ContainerConcurrencyMaxLimit = 2000

// WebhookContext is the context Knative Serving's webhook hands to SetDefaults and Validate for a
// create: the configuration store's defaults (config-defaults, config-features and
// config-autoscaler as serving-core.yaml installs them, whose data holds only examples, so every
// value is the code's default, except config-defaults' container-concurrency-max-limit, which
// docs/deploy.md patches), the create operation, and the requesting user.
func WebhookContext(ctx context.Context) context.Context {
	cfg := config.FromContextOrDefaults(ctx).DeepCopy()
	defaults, err := config.NewDefaultsConfigFromMap(map[string]string{
		"container-concurrency-max-limit": strconv.Itoa(ContainerConcurrencyMaxLimit),
	})
	if err != nil {
		panic(fmt.Sprintf("config-defaults: %v", err)) // a constant above: a programming error
	}
	cfg.Defaults = defaults
	ctx = config.ToContext(ctx, cfg)
	ctx = apis.WithinCreate(ctx)
	return apis.WithUserInfo(ctx, &authenticationv1.UserInfo{Username: "deployer@example.com"})
}

// AdmitService does to a Knative Service what Serving's defaulting and then its validating webhook
// do on create: decode the object, SetDefaults, Validate. It returns the defaulted Service, and the
// errors and warnings Validate reported (an apis.FieldError carries both levels). Unknown fields
// are an error here, although the webhook ignores them: the API server would silently prune them.
//
// Not run: Serving's extra validation callback, which asks the API server to dry-run the pod
// (features.kubernetes.podspec-dryrun); it needs a cluster.
func AdmitService(ctx context.Context, doc Document) (*servingv1.Service, error) {
	svc := &servingv1.Service{}
	if err := kjson.Decode(doc.JSON, svc, true); err != nil {
		return nil, fmt.Errorf("decode %s: %w", doc, err)
	}
	ctx = WebhookContext(ctx)
	svc.SetDefaults(ctx)
	var p Problems
	if fe := svc.Validate(ctx); fe != nil {
		if errs := fe.Filter(apis.ErrorLevel); errs != nil {
			for _, e := range errs.WrappedErrors() {
				p.Errors = append(p.Errors, e.Error())
			}
		}
		if warns := fe.Filter(apis.WarningLevel); warns != nil {
			for _, w := range warns.WrappedErrors() {
				p.Warnings = append(p.Warnings, w.Error())
			}
		}
	}
	return svc, p.orNil()
}

// NamespacePolicy reads the Pod Security Admission labels of a namespace as the API server does.
// A namespace without an enforce label admits any pod ("privileged"), so one is required here.
func NamespacePolicy(doc Document) (name string, pol psaapi.Policy, err error) {
	var ns corev1.Namespace
	if err := kjson.Decode(doc.JSON, &ns, true); err != nil {
		return "", pol, fmt.Errorf("decode %s: %w", doc, err)
	}
	if _, ok := ns.Labels[psaapi.EnforceLevelLabel]; !ok {
		return ns.Name, pol, fmt.Errorf("%s: namespace %s has no %s label: every pod would be admitted", doc, ns.Name, psaapi.EnforceLevelLabel)
	}
	pol, errs := psaapi.PolicyToEvaluate(ns.Labels, psaapi.Policy{})
	if len(errs) > 0 {
		return ns.Name, pol, fmt.Errorf("%s: namespace %s: %v", doc, ns.Name, errs.ToAggregate())
	}
	return ns.Name, pol, nil
}

// CheckPod evaluates a pod against a Pod Security level as the admission plugin does, and returns
// why it would be forbidden, or nil.
func CheckPod(lv psaapi.LevelVersion, meta *metav1.ObjectMeta, spec *corev1.PodSpec) error {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		return err
	}
	agg := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, meta, spec))
	if agg.Allowed {
		return nil
	}
	return fmt.Errorf("violates PodSecurity %q: %s (%s)", lv.String(), agg.ForbiddenReason(), agg.ForbiddenDetail())
}

// RevisionPod builds the pod that Knative Serving's controllers would run for a Service, with
// their own code: the Service's Configuration, its first Revision (defaulted, as the webhook
// defaults it on create) and the Revision's Deployment, which adds the queue-proxy sidecar with
// the securityContext Knative gives it. The controllers' configuration is serving-core.yaml's
// defaults; only the queue-proxy image, which the install sets, is a placeholder.
func RevisionPod(ctx context.Context, svc *servingv1.Service) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	ctx = WebhookContext(ctx)
	rev := configresources.MakeRevision(ctx, serviceresources.MakeConfiguration(svc), time.Unix(0, 0))
	rev.SetDefaults(ctx)

	cfg := &revisionconfig.Config{Config: config.FromContextOrDefaults(ctx)}
	var err error
	if cfg.Deployment, err = deployment.NewConfigFromMap(map[string]string{deployment.QueueSidecarImageKey: "queue-proxy:placeholder"}); err != nil {
		return nil, nil, err
	}
	if cfg.Network, err = netcfg.NewConfigFromMap(nil); err != nil {
		return nil, nil, err
	}
	if cfg.Logging, err = logging.NewConfigFromMap(nil); err != nil {
		return nil, nil, err
	}
	if cfg.Observability, err = metrics.NewObservabilityConfigFromConfigMap(nil); err != nil {
		return nil, nil, err
	}
	if cfg.Tracing, err = tracingconfig.NewTracingConfigFromMap(nil); err != nil {
		return nil, nil, err
	}
	d, err := revisionresources.MakeDeployment(rev, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("make the revision's deployment: %w", err)
	}
	meta := d.Spec.Template.ObjectMeta.DeepCopy()
	meta.Namespace = d.Namespace
	return meta, d.Spec.Template.Spec.DeepCopy(), nil
}

// Where OpenFaaS runs (faas-netes chart: namespaces.yml and the gateway Deployment's pod labels).
const (
	FunctionNamespace = "openfaas-fn"
	GatewayNamespace  = "openfaas"
	// WatchdogPort is the port of every function container (of-watchdog).
	WatchdogPort = 8080
)

// GatewayLabels are the labels of the OpenFaaS gateway's pods (chart/openfaas/templates/gateway-dep.yaml).
var GatewayLabels = map[string]string{"app": "gateway"}

// CheckGatewayOnly checks that a NetworkPolicy lets only the gateway's pods reach the function
// pods: it selects every pod of the functions' namespace, restricts ingress, and each rule admits
// only pods labelled as the gateway in the gateway's namespace, on the watchdog's port.
func CheckGatewayOnly(doc Document, fnNamespace, gwNamespace string, gwLabels map[string]string) error {
	var np networkingv1.NetworkPolicy
	if err := kjson.Decode(doc.JSON, &np, true); err != nil {
		return fmt.Errorf("decode %s: %w", doc, err)
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{doc}, args...)...))
	}
	if np.Namespace != fnNamespace {
		fail("namespace %q, want %q", np.Namespace, fnNamespace)
	}
	if len(np.Spec.PodSelector.MatchLabels) > 0 || len(np.Spec.PodSelector.MatchExpressions) > 0 {
		fail("podSelector %v leaves some function pods open; select all with {}", np.Spec.PodSelector)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		fail("policyTypes %v does not restrict Ingress", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) == 0 {
		fail("no ingress rule: the gateway could not reach the functions")
	}
	wantNS := map[string]string{corev1.LabelMetadataName: gwNamespace}
	for i, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			fail("ingress[%d] has no from: it admits every source", i)
		}
		for j, peer := range rule.From {
			switch {
			case peer.IPBlock != nil:
				fail("ingress[%d].from[%d] admits an IP block", i, j)
			case peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchExpressions) > 0 ||
				!maps.Equal(peer.NamespaceSelector.MatchLabels, wantNS):
				fail("ingress[%d].from[%d].namespaceSelector %v, want exactly %v", i, j, peer.NamespaceSelector, wantNS)
			case peer.PodSelector == nil || len(peer.PodSelector.MatchExpressions) > 0 ||
				!maps.Equal(peer.PodSelector.MatchLabels, gwLabels):
				fail("ingress[%d].from[%d].podSelector %v, want exactly %v", i, j, peer.PodSelector, gwLabels)
			}
		}
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != WatchdogPort ||
			(rule.Ports[0].Protocol != nil && *rule.Ports[0].Protocol != corev1.ProtocolTCP) {
			fail("ingress[%d].ports %v, want TCP %d only", i, rule.Ports, WatchdogPort)
		}
	}
	return errors.Join(errs...)
}
