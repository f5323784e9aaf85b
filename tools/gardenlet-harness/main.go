// Command gardenlet-harness runs Gardener's own gardenlet BackupEntry reconciler
// (github.com/gardener/gardener/pkg/gardenlet/controller/backupentry, the version pinned in go.mod) against a real
// seed API server (the integration stack's kube-apiserver, $KUBECONFIG) with the garden cluster held in a
// controller-runtime fake client (core BackupEntry, BackupBucket, Seed and the bucket's credentials Secret).
//
// It steps the reconciler the way controller-runtime's controller does: RequeueAfter is honoured, an error requeues
// with the default controller rate limiter (exponential per-item backoff), a plain success ends the loop until a
// watch event (here: a change of the extension BackupEntry's lastOperation, of the core entry's generation or of the
// bucket's lastOperation, observed with uncounted reads). Waits can be capped (--max-wait); the reconciler's clock
// then jumps by the part of each wait that was skipped, so grace periods elapse as they would.
//
// Every request the reconciler's seed client makes goes through a counting RoundTripper; the garden client is wrapped
// with an interceptor that counts reads and writes. After every step the harness prints the metadata of the extension
// secret garden/entry-<name>, the extension BackupEntry and the core BackupEntry, read with a separate, uncounted client.
//
// Interface: one command per invocation (`gardenlet-harness [global flags] <command> [flags]`, the garden state
// kept in --state FILE between invocations), or `gardenlet-harness [global flags] serve`, which reads one command per
// line on stdin (same syntax, whitespace-separated) and keeps the garden in memory. Each command prints one JSON
// object on one line of stdout. See README.md in this folder.
//
// The garden commands (installations.go) run Gardener's ControllerInstallation reconciler, gardenlet's required
// controller, the ControllerRegistration admission checks and the WorkloadIdentity TokenRequest storage on the same
// fake garden.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	gardenletconfigv1alpha1 "github.com/gardener/gardener/pkg/apis/config/gardenlet/v1alpha1"
	gardencorev1 "github.com/gardener/gardener/pkg/apis/core/v1"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/gardener/gardener/pkg/client/kubernetes"
	"github.com/gardener/gardener/pkg/controllerutils"
	"github.com/gardener/gardener/pkg/gardenlet/controller/backupentry"
)

// GardenerVersion is the version of the Gardener module this binary was built with (from the build info).
var GardenerVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/gardener/gardener" {
				return d.Version
			}
		}
	}
	return "unknown"
}()

// ---------------------------------------------------------------------------------------------------------------
// Counting

// call is one request, as "METHOD path" (seed) or "verb kind ns/name" (garden).
type counter struct {
	mu    sync.Mutex
	calls []string
	total int
}

func (c *counter) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
	c.total++
}

// take returns the calls since the last take.
func (c *counter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

type countingTransport struct {
	next http.RoundTripper
	c    *counter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := req.Method + " " + req.URL.Path
	if q := req.URL.Query(); q.Get("watch") == "true" || q.Get("watch") == "1" {
		s += "?watch"
	}
	res, err := t.next.RoundTrip(req)
	if err != nil {
		t.c.add(s + " error")
	} else {
		t.c.add(fmt.Sprintf("%s %d", s, res.StatusCode))
	}
	return res, err
}

func countingConfig(cfg *rest.Config, c *counter) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, c: c} })
	return out
}

func isWrite(call string) bool {
	return !strings.HasPrefix(call, "GET ") && !strings.HasPrefix(call, "get ") && !strings.HasPrefix(call, "list ")
}

// ---------------------------------------------------------------------------------------------------------------
// Clock: Since counts the waits the harness skipped (--max-wait) as elapsed, so a deletion grace period ends as it
// would; Now stays real time, so the timestamps gardenlet writes (the secret's gardener.cloud/timestamp, status
// times) stay comparable with the lastUpdateTime an extension (or a test playing one) writes.

type skewClock struct {
	clock.RealClock
	offset *time.Duration
}

func (c skewClock) Since(t time.Time) time.Duration { return time.Since(t) + *c.offset }

// ---------------------------------------------------------------------------------------------------------------
// State of the garden (kept in --state between invocations).

type gardenState struct {
	GardenerVersion string                           `json:"gardenerVersion"`
	ClockOffset     time.Duration                    `json:"clockOffset"`
	BackupEntries   []gardencorev1beta1.BackupEntry  `json:"backupEntries"`
	BackupBuckets   []gardencorev1beta1.BackupBucket `json:"backupBuckets"`
	Seeds           []gardencorev1beta1.Seed         `json:"seeds"`
	Secrets         []corev1.Secret                  `json:"secrets"`
	ShootStates     []gardencorev1beta1.ShootState   `json:"shootStates,omitempty"`
	// Kept for the garden commands (installations.go).
	ControllerRegistrations []gardencorev1beta1.ControllerRegistration `json:"controllerRegistrations,omitempty"`
	ControllerDeployments   []gardencorev1.ControllerDeployment        `json:"controllerDeployments,omitempty"`
	ControllerInstallations []gardencorev1beta1.ControllerInstallation `json:"controllerInstallations,omitempty"`
}

type harness struct {
	// flags
	kubeconfig   string
	seedName     string
	seedReads    string
	maxWait      time.Duration
	eventTimeout time.Duration
	statePath    string
	verbose      bool

	// runtime
	ctx           context.Context
	seedCfg       *rest.Config
	seedCounter   *counter // the reconciler's seed client (reads through the cache not included)
	cacheCounter  *counter // the seed informer cache's list/watch requests
	gardenCounter *counter // every call of the reconciler on the garden client
	seedClient    client.Client
	seedCache     cache.Cache
	startup       startupCost
	observer      client.Client // uncounted, direct
	gardenRaw     client.Client // uncounted
	garden        client.Client // counted
	recorder      *events.FakeRecorder
	clockOffset   time.Duration
	limiter       workqueue.TypedRateLimiter[reconcile.Request]
	log           logr.Logger
}

func (h *harness) init(ctx context.Context) error {
	h.ctx = ctx
	if h.verbose {
		h.log = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
	} else {
		h.log = logr.Discard()
	}
	logf.SetLogger(h.log)
	if h.kubeconfig == "" {
		return errors.New("no kubeconfig: pass --kubeconfig or set KUBECONFIG")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", h.kubeconfig)
	if err != nil {
		return fmt.Errorf("reading kubeconfig %s: %w", h.kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	h.seedCfg = cfg
	h.seedCounter, h.cacheCounter, h.gardenCounter = &counter{}, &counter{}, &counter{}
	if h.observer, err = client.New(cfg, client.Options{Scheme: kubernetes.SeedScheme}); err != nil {
		return err
	}
	opts := client.Options{Scheme: kubernetes.SeedScheme}
	switch h.seedReads {
	case "cache":
		// As gardenlet's seed cluster: reads from an informer cache (cmd/gardenlet/app: cache disabled only for Events).
		c, err := cache.New(countingConfig(cfg, h.cacheCounter), cache.Options{Scheme: kubernetes.SeedScheme})
		if err != nil {
			return err
		}
		go func() { _ = c.Start(ctx) }()
		h.seedCache = c
		opts.Cache = &client.CacheOptions{Reader: c, DisableFor: []client.Object{&corev1.Event{}}}
	case "direct":
	default:
		return fmt.Errorf("--seed-reads must be cache or direct, not %q", h.seedReads)
	}
	if h.seedClient, err = client.New(countingConfig(cfg, h.seedCounter), opts); err != nil {
		return err
	}
	// Start-up, as gardenlet's: discovery for the types the reconciler writes, and (cache mode) the informers it reads
	// from, synced before the first step. These requests are reported once as "startup", not in any step.
	for _, obj := range []client.Object{&corev1.Secret{}, &extensionsv1alpha1.BackupEntry{}} {
		gvk, err := apiutil.GVKForObject(obj, kubernetes.SeedScheme)
		if err != nil {
			return err
		}
		if _, err := h.seedClient.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return fmt.Errorf("discovery of %s on the seed: %w", gvk, err)
		}
		if h.seedCache != nil {
			if _, err := h.seedCache.GetInformer(ctx, obj); err != nil {
				return err
			}
		}
	}
	if h.seedCache != nil && !h.seedCache.WaitForCacheSync(ctx) {
		return errors.New("seed cache did not sync")
	}
	h.startup.SeedRequests = len(h.seedCounter.take())
	h.startup.InformerRequests = len(h.cacheCounter.take())
	h.limiter = workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]()
	h.recorder = events.NewFakeRecorder(1000)
	return h.loadGarden()
}

func (h *harness) loadGarden() error {
	st := gardenState{}
	if h.statePath != "" {
		b, err := os.ReadFile(h.statePath)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("reading state %s: %w", h.statePath, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	h.clockOffset = st.ClockOffset
	return h.buildGarden(st)
}

// buildGarden replaces the fake garden with one holding the objects of st.
func (h *harness) buildGarden(st gardenState) error {
	b := fake.NewClientBuilder().
		WithScheme(kubernetes.GardenScheme).
		WithStatusSubresource(&gardencorev1beta1.BackupEntry{}, &gardencorev1beta1.BackupBucket{}, &gardencorev1beta1.Seed{},
			&gardencorev1beta1.ControllerInstallation{})
	// The field indexes gardener-controller-manager's and gardenlet's caches have (pkg/api/indexer); the fake client
	// refuses a List with a field selector it has no index for.
	if err := addGardenIndexes(b); err != nil {
		return err
	}
	for i := range st.BackupEntries {
		b = b.WithObjects(&st.BackupEntries[i])
	}
	for i := range st.BackupBuckets {
		b = b.WithObjects(&st.BackupBuckets[i])
	}
	for i := range st.Seeds {
		b = b.WithObjects(&st.Seeds[i])
	}
	for i := range st.Secrets {
		b = b.WithObjects(&st.Secrets[i])
	}
	for i := range st.ShootStates {
		b = b.WithObjects(&st.ShootStates[i])
	}
	for i := range st.ControllerRegistrations {
		b = b.WithObjects(&st.ControllerRegistrations[i])
	}
	for i := range st.ControllerDeployments {
		b = b.WithObjects(&st.ControllerDeployments[i])
	}
	for i := range st.ControllerInstallations {
		b = b.WithObjects(&st.ControllerInstallations[i])
	}
	h.gardenRaw = b.Build()
	gc := h.gardenCounter
	key := func(obj client.Object) string {
		kind := fmt.Sprintf("%T", obj)
		kind = kind[strings.LastIndex(kind, ".")+1:]
		if obj.GetNamespace() != "" {
			return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
		}
		return kind + " " + obj.GetName()
	}
	h.garden = interceptor.NewClient(h.gardenRaw.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, k, obj, opts...)
			kind := fmt.Sprintf("%T", obj)
			gc.add("get " + kind[strings.LastIndex(kind, ".")+1:] + " " + k.String())
			return err
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			kind := fmt.Sprintf("%T", list)
			gc.add("list " + kind[strings.LastIndex(kind, ".")+1:])
			return c.List(ctx, list, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			gc.add("create " + key(obj))
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			gc.add("update " + key(obj))
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			gc.add("patch " + key(obj))
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			gc.add("delete " + key(obj))
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			gc.add("update " + sub + " " + key(obj))
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			gc.add("patch " + sub + " " + key(obj))
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return nil
}

func (h *harness) saveGarden() error {
	if h.statePath == "" {
		return nil
	}
	st := gardenState{GardenerVersion: GardenerVersion, ClockOffset: h.clockOffset}
	bel := &gardencorev1beta1.BackupEntryList{}
	bbl := &gardencorev1beta1.BackupBucketList{}
	sl := &gardencorev1beta1.SeedList{}
	secl := &corev1.SecretList{}
	ssl := &gardencorev1beta1.ShootStateList{}
	crl := &gardencorev1beta1.ControllerRegistrationList{}
	cdl := &gardencorev1.ControllerDeploymentList{}
	cil := &gardencorev1beta1.ControllerInstallationList{}
	for _, l := range []client.ObjectList{bel, bbl, sl, secl, ssl, crl, cdl, cil} {
		if err := h.gardenRaw.List(h.ctx, l); err != nil {
			return err
		}
	}
	st.BackupEntries, st.BackupBuckets, st.Seeds, st.Secrets = bel.Items, bbl.Items, sl.Items, secl.Items
	st.ShootStates = ssl.Items
	st.ControllerRegistrations, st.ControllerDeployments, st.ControllerInstallations = crl.Items, cdl.Items, cil.Items
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := h.statePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.statePath)
}

// ---------------------------------------------------------------------------------------------------------------
// What the harness prints.

type objMeta struct {
	Exists            bool              `json:"exists"`
	DeletionTimestamp *string           `json:"deletionTimestamp,omitempty"`
	Finalizers        []string          `json:"finalizers"`
	Annotations       map[string]string `json:"annotations"`
	Labels            map[string]string `json:"labels"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
}

type secretView struct {
	objMeta
	DataKeys []string `json:"dataKeys,omitempty"`
}

type coreView struct {
	objMeta
	Generation    int64                            `json:"generation,omitempty"`
	SpecSeedName  *string                          `json:"specSeedName,omitempty"`
	StatusSeed    *string                          `json:"statusSeedName,omitempty"`
	LastOperation *gardencorev1beta1.LastOperation `json:"lastOperation,omitempty"`
	LastError     *gardencorev1beta1.LastError     `json:"lastError,omitempty"`
}

type extensionView struct {
	objMeta
	LastOperation *gardencorev1beta1.LastOperation `json:"lastOperation,omitempty"`
}

type stepView struct {
	Step    int    `json:"step"`
	Trigger string `json:"trigger"`
	// Waited is the wait controller-runtime would have made before this step; Slept what the harness slept.
	Waited       string   `json:"waited,omitempty"`
	Slept        string   `json:"slept,omitempty"`
	RequeueAfter string   `json:"requeueAfter,omitempty"`
	Error        string   `json:"error,omitempty"`
	Backoff      string   `json:"backoff,omitempty"`
	Outcome      string   `json:"outcome"` // requeueAfter | error | done
	DurationMs   int64    `json:"durationMs"`
	SeedRequests int      `json:"seedRequests"`
	SeedWrites   int      `json:"seedWrites"`
	SeedCalls    []string `json:"seedCalls"`
	// InformerRequests are the seed cache's list/watch requests started during this step (cache mode only).
	InformerRequests int           `json:"informerRequests"`
	GardenReads      int           `json:"gardenReads"`
	GardenWrites     int           `json:"gardenWrites"`
	GardenCalls      []string      `json:"gardenCalls"`
	Events           []string      `json:"events,omitempty"`
	Secret           secretView    `json:"secret"`
	Extension        extensionView `json:"extension"`
	Core             coreView      `json:"core"`
}

// startupCost is what starting the seed client cost (discovery; the informers' first list and watch in cache mode).
type startupCost struct {
	SeedRequests     int `json:"seedRequests"`
	InformerRequests int `json:"informerRequests"`
}

type output struct {
	OK              bool        `json:"ok"`
	Command         string      `json:"command"`
	Name            string      `json:"name,omitempty"`
	GardenerVersion string      `json:"gardenerVersion"`
	SeedReads       string      `json:"seedReads"`
	Startup         startupCost `json:"startup"`
	Error           string      `json:"error,omitempty"`
	Steps           []stepView  `json:"steps"`
	Stopped         string      `json:"stopped,omitempty"`
	Totals          struct {
		Steps            int `json:"steps"`
		SeedRequests     int `json:"seedRequests"`
		SeedWrites       int `json:"seedWrites"`
		InformerRequests int `json:"informerRequests"`
		GardenReads      int `json:"gardenReads"`
		GardenWrites     int `json:"gardenWrites"`
	} `json:"totals"`
	Secret    *secretView    `json:"secret,omitempty"`
	Extension *extensionView `json:"extension,omitempty"`
	Core      *coreView      `json:"core,omitempty"`
}

func meta(o metav1.Object) objMeta {
	m := objMeta{Exists: true, Finalizers: o.GetFinalizers(), Annotations: o.GetAnnotations(), Labels: o.GetLabels(), ResourceVersion: o.GetResourceVersion()}
	if ts := o.GetDeletionTimestamp(); ts != nil {
		s := ts.UTC().Format(time.RFC3339)
		m.DeletionTimestamp = &s
	}
	if m.Finalizers == nil {
		m.Finalizers = []string{}
	}
	return m
}

func (h *harness) observe(name, namespace string) (secretView, extensionView, coreView, error) {
	var sv secretView
	var ev extensionView
	var cv coreView
	sec := &corev1.Secret{}
	if err := h.observer.Get(h.ctx, client.ObjectKey{Namespace: v1beta1constants.GardenNamespace, Name: "entry-" + name}, sec); err == nil {
		sv.objMeta = meta(sec)
		for k := range sec.Data {
			sv.DataKeys = append(sv.DataKeys, k)
		}
		sort.Strings(sv.DataKeys)
	} else if !apierrors.IsNotFound(err) {
		return sv, ev, cv, err
	}
	ext := &extensionsv1alpha1.BackupEntry{}
	if err := h.observer.Get(h.ctx, client.ObjectKey{Name: name}, ext); err == nil {
		ev.objMeta = meta(ext)
		ev.LastOperation = ext.Status.LastOperation
	} else if !apierrors.IsNotFound(err) {
		return sv, ev, cv, err
	}
	be := &gardencorev1beta1.BackupEntry{}
	if err := h.gardenRaw.Get(h.ctx, client.ObjectKey{Namespace: namespace, Name: name}, be); err == nil {
		cv.objMeta = meta(be)
		cv.Generation = be.Generation
		cv.SpecSeedName, cv.StatusSeed = be.Spec.SeedName, be.Status.SeedName
		cv.LastOperation, cv.LastError = be.Status.LastOperation, be.Status.LastError
	} else if !apierrors.IsNotFound(err) {
		return sv, ev, cv, err
	}
	return sv, ev, cv, nil
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

type stepOpts struct {
	name, namespace string
	steps           int
	until           string
	graceHours      int
	purposes        string
}

func (h *harness) reconciler(o stepOpts) *backupentry.Reconciler {
	cfg := gardenletconfigv1alpha1.BackupEntryControllerConfiguration{
		ConcurrentSyncs:          new(1),
		DeletionGracePeriodHours: new(o.graceHours),
	}
	for _, p := range strings.Split(o.purposes, ",") {
		if p != "" {
			cfg.DeletionGracePeriodShootPurposes = append(cfg.DeletionGracePeriodShootPurposes, gardencorev1beta1.ShootPurpose(p))
		}
	}
	return &backupentry.Reconciler{
		GardenClient:    h.garden,
		SeedClient:      h.seedClient,
		Recorder:        h.recorder,
		Config:          cfg,
		Clock:           skewClock{offset: &h.clockOffset},
		SeedName:        h.seedName,
		GardenNamespace: v1beta1constants.GardenNamespace,
	}
}

// until reports whether the condition holds.
func until(cond string, s stepView) (bool, error) {
	switch cond {
	case "", "idle":
		return s.Outcome == "done", nil
	case "gone":
		return !s.Core.Exists, nil
	case "succeeded":
		return s.Core.Exists && s.Core.LastOperation != nil && s.Core.LastOperation.State == gardencorev1beta1.LastOperationStateSucceeded, nil
	case "extension-exists":
		return s.Extension.Exists, nil
	case "extension-gone":
		return !s.Extension.Exists, nil
	case "extension-terminating":
		return s.Extension.Exists && s.Extension.DeletionTimestamp != nil, nil
	case "secret-gone":
		return !s.Secret.Exists, nil
	case "secret-terminating":
		return s.Secret.Exists && s.Secret.DeletionTimestamp != nil, nil
	case "never":
		return false, nil
	}
	return false, fmt.Errorf("unknown --until %q (idle, gone, succeeded, extension-exists, extension-gone, extension-terminating, secret-gone, secret-terminating, never)", cond)
}

// fingerprint is what the reconciler's watches react to: the core entry's generation (GenerationChangedPredicate),
// the bucket's lastOperation and the extension object's lastOperation (LastOperationChanged predicates).
func (h *harness) fingerprint(name, namespace string) string {
	var parts []string
	be := &gardencorev1beta1.BackupEntry{}
	if err := h.gardenRaw.Get(h.ctx, client.ObjectKey{Namespace: namespace, Name: name}, be); err == nil {
		parts = append(parts, fmt.Sprintf("gen=%d", be.Generation))
		bb := &gardencorev1beta1.BackupBucket{}
		if err := h.gardenRaw.Get(h.ctx, client.ObjectKey{Name: be.Spec.BucketName}, bb); err == nil && bb.Status.LastOperation != nil {
			parts = append(parts, fmt.Sprintf("bucket=%s/%s", bb.Status.LastOperation.State, bb.Status.LastOperation.LastUpdateTime.UTC().Format(time.RFC3339Nano)))
		}
	} else {
		parts = append(parts, "core-gone")
	}
	ext := &extensionsv1alpha1.BackupEntry{}
	if err := h.observer.Get(h.ctx, client.ObjectKey{Name: name}, ext); err == nil && ext.Status.LastOperation != nil {
		lo := ext.Status.LastOperation
		parts = append(parts, fmt.Sprintf("ext=%s/%s/%s", lo.Type, lo.State, lo.LastUpdateTime.UTC().Format(time.RFC3339Nano)))
	}
	return strings.Join(parts, ",")
}

// syncCache waits (cache mode) until the seed cache holds the API server's current extension secret and extension
// BackupEntry, as a gardenlet's informers do in steady state: gardenlet reconciles seconds after a change, the
// harness milliseconds after a test's own write. Its reads are neither counted nor seen by the reconciler.
func (h *harness) syncCache(name string) error {
	if h.seedCache == nil {
		return nil
	}
	pairs := []struct{ live, cached client.Object }{
		{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: v1beta1constants.GardenNamespace, Name: "entry-" + name}}, &corev1.Secret{}},
		{&extensionsv1alpha1.BackupEntry{ObjectMeta: metav1.ObjectMeta{Name: name}}, &extensionsv1alpha1.BackupEntry{}},
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pairs {
		key := client.ObjectKeyFromObject(p.live)
		for {
			liveErr := h.observer.Get(h.ctx, key, p.live)
			if liveErr != nil && !apierrors.IsNotFound(liveErr) {
				return liveErr
			}
			cacheErr := h.seedCache.Get(h.ctx, key, p.cached)
			if cacheErr != nil && !apierrors.IsNotFound(cacheErr) {
				return cacheErr
			}
			if (liveErr != nil && cacheErr != nil) || (liveErr == nil && cacheErr == nil && p.live.GetResourceVersion() == p.cached.GetResourceVersion()) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("seed cache did not catch up with %s within 10 s", key)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func (h *harness) wait(d time.Duration) time.Duration {
	slept := d
	if h.maxWait >= 0 && slept > h.maxWait {
		slept = h.maxWait
	}
	time.Sleep(slept)
	h.clockOffset += d - slept
	return slept
}

func (h *harness) run(out *output, o stepOpts, firstTrigger string) error {
	if o.steps <= 0 {
		o.steps = 1
	}
	if _, err := until(o.until, stepView{}); err != nil {
		return err
	}
	r := h.reconciler(o)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.namespace, Name: o.name}}
	trigger, waited, slept := firstTrigger, time.Duration(0), time.Duration(0)
	h.seedCounter.take()
	h.cacheCounter.take()
	h.gardenCounter.take()
	for i := 1; i <= o.steps; i++ {
		if err := h.syncCache(o.name); err != nil {
			return err
		}
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(logf.IntoContext(h.ctx, h.log.WithValues("step", i)), controllerutils.DefaultReconciliationTimeout)
		res, err := r.Reconcile(ctx, req)
		cancel()
		s := stepView{Step: i, Trigger: trigger, DurationMs: time.Since(t0).Milliseconds()}
		if waited > 0 {
			s.Waited, s.Slept = waited.String(), slept.String()
		}
		var next time.Duration
		switch {
		case err != nil && !errors.Is(err, reconcile.TerminalError(nil)):
			next = h.limiter.When(req)
			s.Outcome, s.Error, s.Backoff = "error", err.Error(), next.String()
		case err != nil:
			s.Outcome, s.Error = "done", err.Error()
		case res.RequeueAfter > 0:
			h.limiter.Forget(req)
			next = res.RequeueAfter
			s.Outcome, s.RequeueAfter = "requeueAfter", next.String()
		default:
			h.limiter.Forget(req)
			s.Outcome = "done"
		}
		for _, c := range h.seedCounter.take() {
			s.SeedCalls = append(s.SeedCalls, c)
			s.SeedRequests++
			if isWrite(c) {
				s.SeedWrites++
			}
		}
		s.InformerRequests = len(h.cacheCounter.take())
		for _, c := range h.gardenCounter.take() {
			s.GardenCalls = append(s.GardenCalls, c)
			if isWrite(c) {
				s.GardenWrites++
			} else {
				s.GardenReads++
			}
		}
		if s.SeedCalls == nil {
			s.SeedCalls = []string{}
		}
	drain:
		for {
			select {
			case e := <-h.recorder.Events:
				s.Events = append(s.Events, e)
			default:
				break drain
			}
		}
		var oerr error
		if s.Secret, s.Extension, s.Core, oerr = h.observe(o.name, o.namespace); oerr != nil {
			return oerr
		}
		out.Steps = append(out.Steps, s)
		out.Totals.Steps++
		out.Totals.SeedRequests += s.SeedRequests
		out.Totals.SeedWrites += s.SeedWrites
		out.Totals.InformerRequests += s.InformerRequests
		out.Totals.GardenReads += s.GardenReads
		out.Totals.GardenWrites += s.GardenWrites
		if ok, _ := until(o.until, s); ok {
			out.Stopped = "until " + orDefault(o.until, "idle")
			return nil
		}
		if i == o.steps {
			out.Stopped = "steps"
			return nil
		}
		if next > 0 {
			waited, slept = next, h.wait(next)
			if s.Outcome == "error" {
				trigger = "backoff"
			} else {
				trigger = "requeueAfter"
			}
			continue
		}
		// Done: controller-runtime waits for a watch event.
		fp := h.fingerprint(o.name, o.namespace)
		deadline := time.Now().Add(h.eventTimeout)
		t1 := time.Now()
		for h.fingerprint(o.name, o.namespace) == fp {
			if time.Now().After(deadline) {
				out.Stopped = "no event within " + h.eventTimeout.String()
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		waited, slept, trigger = time.Since(t1), time.Since(t1), "event"
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

type kv map[string]string

func (m kv) String() string { return fmt.Sprint(map[string]string(m)) }
func (m kv) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not key=value", s)
	}
	m[k] = v
	return nil
}

// dispatch runs one command: a garden command (installations.go) or one of the BackupEntry commands below.
func (h *harness) dispatch(args []string) (any, bool) {
	if len(args) > 0 && gardenCommands[args[0]] {
		out := h.gardenCommand(args)
		return out, out.OK
	}
	out := h.command(args)
	return out, out.OK
}

func (h *harness) command(args []string) (out output) {
	out = output{GardenerVersion: GardenerVersion, SeedReads: h.seedReads, Startup: h.startup, Steps: []stepView{}}
	if len(args) == 0 {
		out.Error = "no command (create, delete, step, get, patch-core, bucket, credentials)"
		return out
	}
	out.Command = args[0]
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := stepOpts{}
	fs.StringVar(&o.name, "name", "", "name of the core BackupEntry (and of the extension BackupEntry; the secret is garden/entry-<name>)")
	fs.StringVar(&o.namespace, "namespace", "garden-dev", "project namespace of the core BackupEntry in the garden")
	fs.IntVar(&o.steps, "steps", 1, "reconcile at most this many times")
	fs.StringVar(&o.until, "until", "", "stop early when this holds after a step (default: the reconciler is done, no requeue)")
	fs.IntVar(&o.graceHours, "grace-hours", 0, "gardenlet's backupEntry deletionGracePeriodHours")
	fs.StringVar(&o.purposes, "grace-purposes", "", "gardenlet's deletionGracePeriodShootPurposes, comma-separated")
	bucket := fs.String("bucket", "", "BackupBucket name (create; default bucket-<seed>)")
	provider := fs.String("provider", "local", "provider type of the BackupBucket (create)")
	region := fs.String("region", "local", "region of the BackupBucket (create)")
	purpose := fs.String("purpose", "", "shoot purpose annotation on the core BackupEntry (create)")
	shoot := fs.String("shoot", "", "create: owner reference to this Shoot and an empty ShootState of it (a restore reads it)")
	finalizer := fs.String("finalizer", "", "create: this finalizer on the core BackupEntry (a later delete leaves it terminating)")
	force := fs.Bool("force", false, "delete: annotate backupentry.core.gardener.cloud/force-deletion=true first")
	seed := fs.String("seed", "", "patch-core: new spec.seedName (a seed other than --seed-name makes this gardenlet migrate)")
	state := fs.String("state", "Succeeded", "bucket: lastOperation state of the BackupBucket (Succeeded, Error, Processing)")
	noStep := fs.Bool("no-reconcile", false, "change the garden only, do not reconcile")
	data := kv{}
	fs.Var(data, "data", "credentials: key=value of the bucket's credentials secret (repeatable); create: initial data")
	annotate := kv{}
	fs.Var(annotate, "annotate", "patch-core/create: key=value annotation on the core BackupEntry (value '-' removes it)")
	if err := fs.Parse(args[1:]); err != nil {
		out.Error = err.Error()
		return out
	}
	out.Name = o.name
	if o.name == "" {
		out.Error = "--name is required"
		return out
	}
	if *bucket == "" {
		*bucket = "bucket-" + h.seedName
	}
	err := func() error {
		ctx := h.ctx
		key := client.ObjectKey{Namespace: o.namespace, Name: o.name}
		trigger := args[0]
		switch args[0] {
		case "create":
			if len(data) == 0 {
				data["hostPath"] = "/tmp/backups"
			}
			if err := h.ensureGarden(ctx, *bucket, *provider, *region, data); err != nil {
				return err
			}
			be := &gardencorev1beta1.BackupEntry{
				ObjectMeta: metav1.ObjectMeta{Name: o.name, Namespace: o.namespace, Annotations: map[string]string{}, Generation: 1,
					UID: fakeUID("BackupEntry", o.namespace, o.name)},
				Spec: gardencorev1beta1.BackupEntrySpec{BucketName: *bucket, SeedName: new(h.seedName)},
			}
			if *purpose != "" {
				be.Annotations[v1beta1constants.ShootPurpose] = *purpose
			}
			if *shoot != "" {
				be.OwnerReferences = []metav1.OwnerReference{{
					APIVersion: gardencorev1beta1.SchemeGroupVersion.String(), Kind: "Shoot", Name: *shoot,
					UID: types.UID("shoot-" + *shoot), Controller: new(true), BlockOwnerDeletion: new(true),
				}}
				ss := &gardencorev1beta1.ShootState{ObjectMeta: metav1.ObjectMeta{Name: *shoot, Namespace: o.namespace}}
				if err := h.gardenRaw.Create(ctx, ss); err != nil && !apierrors.IsAlreadyExists(err) {
					return err
				}
			}
			for k, v := range annotate {
				be.Annotations[k] = v
			}
			if *finalizer != "" {
				be.Finalizers = []string{*finalizer}
			}
			if err := h.gardenRaw.Create(ctx, be); err != nil {
				return err
			}
		case "delete":
			be := &gardencorev1beta1.BackupEntry{}
			if err := h.gardenRaw.Get(ctx, key, be); err != nil {
				return err
			}
			if *force {
				p := client.MergeFrom(be.DeepCopy())
				metav1.SetMetaDataAnnotation(&be.ObjectMeta, gardencorev1beta1.BackupEntryForceDeletion, "true")
				if err := h.gardenRaw.Patch(ctx, be, p); err != nil {
					return err
				}
			}
			if err := h.gardenRaw.Delete(ctx, be); err != nil {
				return err
			}
		case "step":
			trigger = "step"
		case "get":
			*noStep = true
		case "patch-core":
			be := &gardencorev1beta1.BackupEntry{}
			if err := h.gardenRaw.Get(ctx, key, be); err != nil {
				return err
			}
			p := client.MergeFrom(be.DeepCopy())
			for k, v := range annotate {
				if v == "-" {
					delete(be.Annotations, k)
				} else {
					metav1.SetMetaDataAnnotation(&be.ObjectMeta, k, v)
				}
			}
			if *seed != "" {
				be.Spec.SeedName = new(*seed)
				be.Generation++
			}
			if err := h.gardenRaw.Patch(ctx, be, p); err != nil {
				return err
			}
		case "bucket":
			bb := &gardencorev1beta1.BackupBucket{}
			if err := h.gardenRaw.Get(ctx, client.ObjectKey{Name: *bucket}, bb); err != nil {
				return err
			}
			p := client.MergeFrom(bb.DeepCopy())
			bb.Status.LastOperation.State = gardencorev1beta1.LastOperationState(*state)
			bb.Status.LastOperation.LastUpdateTime = metav1.NewTime(time.Now())
			if *state == string(gardencorev1beta1.LastOperationStateError) {
				bb.Status.LastError = &gardencorev1beta1.LastError{Description: "bucket error set by the harness"}
			} else {
				bb.Status.LastError = nil
			}
			if err := h.gardenRaw.Status().Patch(ctx, bb, p); err != nil {
				return err
			}
		case "credentials":
			sec := &corev1.Secret{}
			if err := h.gardenRaw.Get(ctx, client.ObjectKey{Namespace: "garden", Name: *bucket + "-credentials"}, sec); err != nil {
				return err
			}
			sec.Data = map[string][]byte{}
			for k, v := range data {
				sec.Data[k] = []byte(v)
			}
			if err := h.gardenRaw.Update(ctx, sec); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown command %q (create, delete, step, get, patch-core, bucket, credentials)", args[0])
		}
		if *noStep {
			sv, ev, cv, err := h.observe(o.name, o.namespace)
			out.Secret, out.Extension, out.Core = &sv, &ev, &cv
			return err
		}
		return h.run(&out, o, trigger)
	}()
	if err != nil {
		out.Error = err.Error()
		return out
	}
	if err := h.saveGarden(); err != nil {
		out.Error = "saving state: " + err.Error()
		return out
	}
	out.OK = true
	return out
}

// ensureGarden creates the Seed, the BackupBucket (Succeeded) and its credentials secret in the garden if missing.
func (h *harness) ensureGarden(ctx context.Context, bucket, provider, region string, data map[string]string) error {
	seed := &gardencorev1beta1.Seed{ObjectMeta: metav1.ObjectMeta{Name: h.seedName, UID: fakeUID("Seed", "", h.seedName)}}
	seed.Spec.Provider = gardencorev1beta1.SeedProvider{Type: provider, Region: region}
	if err := h.gardenRaw.Create(ctx, seed); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "garden", Name: bucket + "-credentials"}, Data: map[string][]byte{}}
	for k, v := range data {
		sec.Data[k] = []byte(v)
	}
	if err := h.gardenRaw.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	bb := &gardencorev1beta1.BackupBucket{
		ObjectMeta: metav1.ObjectMeta{Name: bucket, Generation: 1, UID: fakeUID("BackupBucket", "", bucket)},
		Spec: gardencorev1beta1.BackupBucketSpec{
			Provider:       gardencorev1beta1.BackupBucketProvider{Type: provider, Region: region},
			SeedName:       new(h.seedName),
			CredentialsRef: &corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: "garden", Name: sec.Name},
		},
	}
	if err := h.gardenRaw.Create(ctx, bb); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	p := client.MergeFrom(bb.DeepCopy())
	bb.Status.ObservedGeneration = bb.Generation
	bb.Status.LastOperation = &gardencorev1beta1.LastOperation{
		Type: gardencorev1beta1.LastOperationTypeReconcile, State: gardencorev1beta1.LastOperationStateSucceeded,
		Progress: 100, LastUpdateTime: metav1.NewTime(time.Now()),
	}
	return h.gardenRaw.Status().Patch(ctx, bb, p)
}

func main() {
	h := &harness{}
	fs := flag.NewFlagSet("gardenlet-harness", flag.ExitOnError)
	fs.StringVar(&h.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the seed API server (default $KUBECONFIG)")
	fs.StringVar(&h.seedName, "seed-name", "local", "the Seed this gardenlet is responsible for")
	fs.StringVar(&h.seedReads, "seed-reads", "cache", "cache: the seed client reads from an informer cache, as gardenlet's does; direct: every read is a request")
	fs.DurationVar(&h.maxWait, "max-wait", -1, "cap on each requeue/backoff sleep (the reconciler's clock jumps by the rest); negative: sleep in full")
	fs.DurationVar(&h.eventTimeout, "event-timeout", 10*time.Second, "how long to wait for a watch event after a step that ended without requeue")
	fs.StringVar(&h.statePath, "state", "", "file that keeps the garden between invocations (one-command mode)")
	fs.BoolVar(&h.verbose, "v", false, "reconciler logs on stderr")
	version := fs.Bool("version", false, "print the Gardener version and exit")
	_ = fs.Parse(os.Args[1:])
	if *version {
		fmt.Println(GardenerVersion)
		return
	}
	args := fs.Args()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	enc := json.NewEncoder(os.Stdout)
	if err := h.init(ctx); err != nil {
		_ = enc.Encode(output{Command: strings.Join(args, " "), GardenerVersion: GardenerVersion, Error: err.Error(), Steps: []stepView{}})
		os.Exit(2)
	}
	if len(args) > 0 && args[0] == "serve" {
		if h.statePath != "" {
			fmt.Fprintln(os.Stderr, "serve keeps the garden in memory; --state is used only to load and save it")
		}
		_ = enc.Encode(map[string]any{"ready": true, "gardenerVersion": GardenerVersion, "seedReads": h.seedReads, "startup": h.startup})
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if line == "quit" || line == "exit" {
				return
			}
			out, _ := h.dispatch(strings.Fields(line))
			_ = enc.Encode(out)
		}
		return
	}
	out, ok := h.dispatch(args)
	_ = enc.Encode(out)
	if !ok {
		os.Exit(1)
	}
}
