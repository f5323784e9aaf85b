// Garden commands: whether Gardener keeps a ControllerInstallation of a ControllerRegistration for the seed.
//
//   - registration: ControllerRegistrations and ControllerDeployments from a YAML file into the fake garden.
//   - installations: gardener-controller-manager's ControllerInstallation reconciler
//     (pkg/controllermanager/controller/controllerregistration/controllerinstallation, Kind seed) once for the seed.
//   - required: gardenlet's ControllerInstallation "required" controller
//     (pkg/gardenlet/controller/controllerinstallation/required) against the real seed: it lists the seed's extension
//     objects and sets the Required condition of each of the seed's ControllerInstallations in the fake garden.
//   - seed-crd: Gardener's own extension CRD of a kind (pkg/component/extensions/crds) into the seed, when missing.
//   - admit: Gardener's validation (pkg/api/core/validation ValidateControllerRegistration) and the
//     ControllerRegistrationResources admission plugin (plugin/pkg/controllerregistration/resources) for the
//     registrations of a file, against the registrations in the fake garden.
//   - token: gardener-apiserver's WorkloadIdentity TokenRequest storage (pkg/apiserver/registry/security/
//     workloadidentity/storage, TokenRequestREST.Create and so resolveContextObject) with listers over the fake garden.
//   - delete-bucket: deletes the seed's core BackupBucket (--name, default bucket-<seed>).
//   - reset: an empty garden.
//
// Each prints one gardenOutput line: the command's own result and the garden's registrations, installations,
// BackupBuckets and BackupEntries afterwards.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corevalidation "github.com/gardener/gardener/pkg/api/core/validation"
	"github.com/gardener/gardener/pkg/api/indexer"
	"github.com/gardener/gardener/pkg/apis/core"
	gardencorev1 "github.com/gardener/gardener/pkg/apis/core/v1"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	securityapi "github.com/gardener/gardener/pkg/apis/security"
	securityv1alpha1 "github.com/gardener/gardener/pkg/apis/security/v1alpha1"
	wistorage "github.com/gardener/gardener/pkg/apiserver/registry/security/workloadidentity/storage"
	gardencorefake "github.com/gardener/gardener/pkg/client/core/clientset/versioned/fake"
	gardencorev1beta1listers "github.com/gardener/gardener/pkg/client/core/listers/core/v1beta1"
	"github.com/gardener/gardener/pkg/client/kubernetes"
	extensionscrds "github.com/gardener/gardener/pkg/component/extensions/crds"
	"github.com/gardener/gardener/pkg/controllermanager/controller/controllerregistration/controllerinstallation"
	"github.com/gardener/gardener/pkg/controllerutils"
	"github.com/gardener/gardener/pkg/gardenlet/controller/controllerinstallation/required"
	workloadidentityutils "github.com/gardener/gardener/pkg/utils/workloadidentity"
	crresources "github.com/gardener/gardener/plugin/pkg/controllerregistration/resources"
)

var gardenCommands = map[string]bool{
	"registration": true, "installations": true, "required": true, "seed-crd": true, "admit": true, "token": true,
	"reset": true, "delete-bucket": true,
}

// fakeUID is the UID the harness gives the garden objects it creates (the fake client sets none): a token request
// names its context object by UID, also after the object is gone.
func fakeUID(kind, namespace, name string) types.UID {
	return types.UID(strings.ToLower(strings.Join([]string{"uid", kind, namespace, name}, "-")))
}

// builderIndexer lets Gardener's indexer.Add* functions register their field indexes on a fake client builder.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

func addGardenIndexes(b *fake.ClientBuilder) error {
	ix := builderIndexer{b}
	for _, add := range []func(context.Context, client.FieldIndexer) error{
		indexer.AddShootSeedName, indexer.AddShootStatusSeedName,
		indexer.AddBackupBucketSeedName, indexer.AddBackupBucketShootRefName, indexer.AddBackupBucketShootRefNamespace,
		indexer.AddBackupEntrySeedName, indexer.AddBackupEntryShootRefName, indexer.AddBackupEntryShootRefNamespace,
		indexer.AddBackupEntryBucketName,
		indexer.AddControllerInstallationSeedRefName, indexer.AddControllerInstallationShootRefName,
		indexer.AddControllerInstallationShootRefNamespace, indexer.AddControllerInstallationRegistrationRefName,
	} {
		if err := add(context.Background(), ix); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------------------------
// Output

type conditionView struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type installationView struct {
	Name              string         `json:"name"`
	Registration      string         `json:"registration"`
	Seed              string         `json:"seed,omitempty"`
	Deployment        string         `json:"deployment,omitempty"`
	DeletionTimestamp *string        `json:"deletionTimestamp,omitempty"`
	Required          *conditionView `json:"required,omitempty"`
}

type resourceView struct {
	Kind    string `json:"kind"`
	Type    string `json:"type"`
	Primary *bool  `json:"primary,omitempty"`
}

type registrationView struct {
	Name      string         `json:"name"`
	Policy    string         `json:"policy,omitempty"`
	Resources []resourceView `json:"resources"`
}

type reconcileView struct {
	Object      string   `json:"object"`
	Outcome     string   `json:"outcome"` // done | error
	Error       string   `json:"error,omitempty"`
	GardenCalls []string `json:"gardenCalls"`
	SeedCalls   []string `json:"seedCalls,omitempty"`
}

type admissionView struct {
	Name string `json:"name"`
	// Validation is ValidateControllerRegistration's errors; Admission the plugin's refusal ("" = allowed).
	Validation []string `json:"validation"`
	Admission  string   `json:"admission,omitempty"`
	Allowed    bool     `json:"allowed"`
}

type tokenView struct {
	ContextObject securityv1alpha1.ContextObject `json:"contextObject"`
	Issued        bool                           `json:"issued"`
	Error         string                         `json:"error,omitempty"`
	// Claims are the issued token's claims (its payload; the signature is the harness's throwaway key).
	Claims map[string]any `json:"claims,omitempty"`
}

type crdView struct {
	Name     string `json:"name"`
	Created  bool   `json:"created"`
	Gardener string `json:"gardener"`
}

type gardenOutput struct {
	OK              bool   `json:"ok"`
	Command         string `json:"command"`
	GardenerVersion string `json:"gardenerVersion"`
	Seed            string `json:"seed"`
	Error           string `json:"error,omitempty"`

	Loaded              []string            `json:"loaded,omitempty"`
	Reconciles          []reconcileView     `json:"reconciles,omitempty"`
	KindToRequiredTypes map[string][]string `json:"kindToRequiredTypes,omitempty"`
	Admission           []admissionView     `json:"admission,omitempty"`
	Token               *tokenView          `json:"token,omitempty"`
	CRD                 *crdView            `json:"crd,omitempty"`

	Registrations []registrationView `json:"registrations"`
	Installations []installationView `json:"installations"`
	BackupBuckets []string           `json:"backupBuckets"`
	// BackupEntries are namespace/name, with " (terminating)" when the entry has a deletionTimestamp.
	BackupEntries []string `json:"backupEntries"`
}

func (h *harness) gardenSummary(out *gardenOutput) error {
	ctx := h.ctx
	crl := &gardencorev1beta1.ControllerRegistrationList{}
	cil := &gardencorev1beta1.ControllerInstallationList{}
	bbl := &gardencorev1beta1.BackupBucketList{}
	bel := &gardencorev1beta1.BackupEntryList{}
	for _, l := range []client.ObjectList{crl, cil, bbl, bel} {
		if err := h.gardenRaw.List(ctx, l); err != nil {
			return err
		}
	}
	out.Registrations, out.Installations, out.BackupBuckets, out.BackupEntries = []registrationView{}, []installationView{}, []string{}, []string{}
	for _, r := range crl.Items {
		rv := registrationView{Name: r.Name, Resources: []resourceView{}}
		if r.Spec.Deployment != nil && r.Spec.Deployment.Policy != nil {
			rv.Policy = string(*r.Spec.Deployment.Policy)
		}
		for _, res := range r.Spec.Resources {
			rv.Resources = append(rv.Resources, resourceView{Kind: res.Kind, Type: res.Type, Primary: res.Primary})
		}
		out.Registrations = append(out.Registrations, rv)
	}
	for _, ci := range cil.Items {
		iv := installationView{Name: ci.Name, Registration: ci.Spec.RegistrationRef.Name}
		if ci.Spec.SeedRef != nil {
			iv.Seed = ci.Spec.SeedRef.Name
		}
		if ci.Spec.DeploymentRef != nil {
			iv.Deployment = ci.Spec.DeploymentRef.Name
		}
		if ts := ci.DeletionTimestamp; ts != nil {
			s := ts.UTC().Format(time.RFC3339)
			iv.DeletionTimestamp = &s
		}
		for _, c := range ci.Status.Conditions {
			if c.Type == gardencorev1beta1.ControllerInstallationRequired {
				iv.Required = &conditionView{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
			}
		}
		out.Installations = append(out.Installations, iv)
	}
	sort.Slice(out.Installations, func(i, j int) bool { return out.Installations[i].Registration < out.Installations[j].Registration })
	for _, b := range bbl.Items {
		out.BackupBuckets = append(out.BackupBuckets, b.Name)
	}
	for _, e := range bel.Items {
		s := e.Namespace + "/" + e.Name
		if e.DeletionTimestamp != nil {
			s += " (terminating)"
		}
		out.BackupEntries = append(out.BackupEntries, s)
	}
	sort.Strings(out.BackupEntries)
	return nil
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

func (h *harness) gardenCommand(args []string) (out gardenOutput) {
	out = gardenOutput{Command: args[0], GardenerVersion: GardenerVersion, Seed: h.seedName}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "registration, admit: YAML file with ControllerRegistrations and ControllerDeployments")
	kind := fs.String("kind", "BackupBucket", "seed-crd: the extension kind; token: the context object's kind (BackupEntry, BackupBucket, Seed)")
	name := fs.String("name", "", "token: the context object's name; delete-bucket: the BackupBucket (default bucket-<seed>)")
	namespace := fs.String("namespace", "garden-dev", "token: the context object's namespace (BackupEntry) and the WorkloadIdentity's")
	uid := fs.String("uid", "", "token: the context object's UID (default: the object's, or the UID the harness gave it when it is gone)")
	if err := fs.Parse(args[1:]); err != nil {
		out.Error = err.Error()
		return out
	}
	err := func() error {
		switch args[0] {
		case "reset":
			return h.buildGarden(gardenState{})
		case "registration":
			return h.loadRegistrations(*file, &out)
		case "installations":
			return h.runInstallations(&out)
		case "required":
			return h.runRequired(&out)
		case "seed-crd":
			return h.seedCRD(*kind, &out)
		case "admit":
			return h.admit(*file, &out)
		case "token":
			return h.token(*kind, *name, *namespace, *uid, &out)
		case "delete-bucket":
			if *name == "" {
				*name = "bucket-" + h.seedName
			}
			return h.gardenRaw.Delete(h.ctx, &gardencorev1beta1.BackupBucket{ObjectMeta: metav1.ObjectMeta{Name: *name}})
		}
		return fmt.Errorf("unknown command %q", args[0])
	}()
	if err == nil {
		err = h.gardenSummary(&out)
	}
	if err == nil {
		err = h.saveGarden()
	}
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.OK = true
	return out
}

// readObjects decodes every document of a YAML file with the garden scheme (ControllerRegistration,
// ControllerDeployment, ...).
func readObjects(file string) ([]client.Object, error) {
	if file == "" {
		return nil, errors.New("--file is required")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	dec := kubernetes.GardenCodec.UniversalDeserializer()
	var objs []client.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		o, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		co, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not an object", file, o)
		}
		objs = append(objs, co)
	}
	return objs, nil
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// loadRegistrations creates (or replaces) the file's ControllerRegistrations and ControllerDeployments in the garden.
func (h *harness) loadRegistrations(file string, out *gardenOutput) error {
	objs, err := readObjects(file)
	if err != nil {
		return err
	}
	for _, o := range objs {
		switch o.(type) {
		case *gardencorev1beta1.ControllerRegistration, *gardencorev1.ControllerDeployment:
		default:
			return fmt.Errorf("%s: unexpected %T %s", file, o, o.GetName())
		}
		existing := o.DeepCopyObject().(client.Object)
		err := h.gardenRaw.Get(h.ctx, client.ObjectKeyFromObject(o), existing)
		switch {
		case apierrors.IsNotFound(err):
			err = h.gardenRaw.Create(h.ctx, o)
		case err == nil:
			o.SetResourceVersion(existing.GetResourceVersion())
			err = h.gardenRaw.Update(h.ctx, o)
		}
		if err != nil {
			return err
		}
		kind := fmt.Sprintf("%T", o)
		out.Loaded = append(out.Loaded, kind[strings.LastIndex(kind, ".")+1:]+" "+o.GetName())
	}
	return nil
}

// runInstallations runs gardener-controller-manager's ControllerInstallation reconciler for the seed once, as its
// controller does on any change of the seed's BackupBuckets, BackupEntries, Shoots, ControllerRegistrations or
// ControllerInstallations.
func (h *harness) runInstallations(out *gardenOutput) error {
	r := &controllerinstallation.Reconciler{
		APIReader:           h.garden,
		Client:              h.garden,
		NewTargetObjectFunc: func() client.Object { return &gardencorev1beta1.Seed{} },
		Kind:                controllerinstallation.SeedKind,
	}
	h.gardenCounter.take()
	ctx, cancel := context.WithTimeout(logf.IntoContext(h.ctx, h.log.WithValues("controller", "controllerinstallation")), controllerutils.DefaultReconciliationTimeout)
	defer cancel()
	_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: h.seedName}})
	rv := reconcileView{Object: "Seed " + h.seedName, Outcome: "done", GardenCalls: h.gardenCounter.take()}
	if err != nil {
		rv.Outcome, rv.Error = "error", err.Error()
	}
	if rv.GardenCalls == nil {
		rv.GardenCalls = []string{}
	}
	out.Reconciles = append(out.Reconciles, rv)
	return nil
}

// extensionKinds are the kinds gardenlet's required controller watches (required/add.go AddToManager), each with its
// list type.
var extensionKinds = []struct {
	kind    string
	newList func() client.ObjectList
}{
	{extensionsv1alpha1.BackupBucketResource, func() client.ObjectList { return &extensionsv1alpha1.BackupBucketList{} }},
	{extensionsv1alpha1.BackupEntryResource, func() client.ObjectList { return &extensionsv1alpha1.BackupEntryList{} }},
	{extensionsv1alpha1.BastionResource, func() client.ObjectList { return &extensionsv1alpha1.BastionList{} }},
	{extensionsv1alpha1.ContainerRuntimeResource, func() client.ObjectList { return &extensionsv1alpha1.ContainerRuntimeList{} }},
	{extensionsv1alpha1.ControlPlaneResource, func() client.ObjectList { return &extensionsv1alpha1.ControlPlaneList{} }},
	{extensionsv1alpha1.DNSRecordResource, func() client.ObjectList { return &extensionsv1alpha1.DNSRecordList{} }},
	{extensionsv1alpha1.ExtensionResource, func() client.ObjectList { return &extensionsv1alpha1.ExtensionList{} }},
	{extensionsv1alpha1.InfrastructureResource, func() client.ObjectList { return &extensionsv1alpha1.InfrastructureList{} }},
	{extensionsv1alpha1.NetworkResource, func() client.ObjectList { return &extensionsv1alpha1.NetworkList{} }},
	{extensionsv1alpha1.OperatingSystemConfigResource, func() client.ObjectList { return &extensionsv1alpha1.OperatingSystemConfigList{} }},
	{extensionsv1alpha1.SelfHostedShootExposureResource, func() client.ObjectList { return &extensionsv1alpha1.SelfHostedShootExposureList{} }},
	{extensionsv1alpha1.WorkerResource, func() client.ObjectList { return &extensionsv1alpha1.WorkerList{} }},
}

// runRequired runs gardenlet's required controller as it runs after a start: its map function for every extension
// kind (lists that kind in the seed and records the types present; a kind whose CRD is missing counts as none), then
// the reconciler for every ControllerInstallation of the seed, which sets the Required condition.
func (h *harness) runRequired(out *gardenOutput) error {
	// A fresh, direct client: the seed's current objects (gardenlet's informers have them once they caught up) and a
	// fresh discovery, so a CRD created since the harness started is found.
	seedClient, err := client.New(countingConfig(h.seedCfg, h.seedCounter), client.Options{Scheme: kubernetes.SeedScheme})
	if err != nil {
		return err
	}
	r := &required.Reconciler{
		GardenClient:        h.garden,
		SeedClient:          seedClient,
		Clock:               clock.RealClock{},
		SeedName:            h.seedName,
		Lock:                &sync.RWMutex{},
		KindToRequiredTypes: map[string]sets.Set[string]{},
	}
	log := h.log.WithValues("controller", required.ControllerName)
	ctx := logf.IntoContext(h.ctx, log)
	h.gardenCounter.take()
	h.seedCounter.take()
	enqueued := sets.New[string]()
	for _, k := range extensionKinds {
		for _, req := range r.MapObjectKindToControllerInstallations(log, k.kind, k.newList)(ctx, nil) {
			enqueued.Insert(req.Name)
		}
	}
	mapView := reconcileView{Object: "map functions (" + fmt.Sprint(len(extensionKinds)) + " kinds)", Outcome: "done",
		GardenCalls: h.gardenCounter.take(), SeedCalls: h.seedCounter.take()}
	out.Reconciles = append(out.Reconciles, mapView)
	out.KindToRequiredTypes = map[string][]string{}
	for k, v := range r.KindToRequiredTypes {
		out.KindToRequiredTypes[k] = sets.List(v)
	}
	// The ControllerInstallation watch enqueues every installation of the seed too.
	cil := &gardencorev1beta1.ControllerInstallationList{}
	if err := h.gardenRaw.List(ctx, cil, client.MatchingFields{core.SeedRefName: h.seedName}); err != nil {
		return err
	}
	for _, ci := range cil.Items {
		enqueued.Insert(ci.Name)
	}
	for _, n := range sets.List(enqueued) {
		rctx, cancel := context.WithTimeout(ctx, controllerutils.DefaultReconciliationTimeout)
		_, err := r.Reconcile(rctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: n}})
		cancel()
		rv := reconcileView{Object: "ControllerInstallation " + n, Outcome: "done", GardenCalls: h.gardenCounter.take(), SeedCalls: h.seedCounter.take()}
		if err != nil {
			rv.Outcome, rv.Error = "error", err.Error()
		}
		if rv.GardenCalls == nil {
			rv.GardenCalls = []string{}
		}
		out.Reconciles = append(out.Reconciles, rv)
	}
	return nil
}

// seedCRD creates Gardener's CRD of an extension kind in the seed unless it exists (an existing one is left as it
// is), then waits until the API server serves it. The CRD is the one gardenlet deploys into a seed
// (pkg/component/extensions/crds, rendered through its crddeployer into a fake client).
func (h *harness) seedCRD(kind string, out *gardenOutput) error {
	plural := strings.ToLower(kind) + "s"
	if strings.HasSuffix(strings.ToLower(kind), "y") {
		plural = strings.TrimSuffix(strings.ToLower(kind), "y") + "ies"
	}
	name := plural + "." + extensionsv1alpha1.SchemeGroupVersion.Group
	var list client.ObjectList
	for _, k := range extensionKinds {
		if k.kind == kind {
			list = k.newList()
		}
	}
	if list == nil {
		return fmt.Errorf("--kind %q is not an extension kind gardenlet's required controller watches", kind)
	}
	rendered := fake.NewClientBuilder().WithScheme(kubernetes.SeedScheme).Build()
	d, err := extensionscrds.NewCRD(rendered, true, true)
	if err != nil {
		return err
	}
	if err := d.Deploy(h.ctx); err != nil {
		return err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := rendered.Get(h.ctx, client.ObjectKey{Name: name}, crd); err != nil {
		return fmt.Errorf("Gardener %s has no extension CRD %s: %w", GardenerVersion, name, err)
	}
	out.CRD = &crdView{Name: name, Gardener: GardenerVersion}
	crd.ResourceVersion, crd.UID, crd.CreationTimestamp = "", "", metav1.Time{}
	switch err := h.observer.Create(h.ctx, crd); {
	case err == nil:
		out.CRD.Created = true
	case !apierrors.IsAlreadyExists(err):
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur := &apiextensionsv1.CustomResourceDefinition{}
		if err := h.observer.Get(h.ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return err
		}
		established := false
		for _, c := range cur.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				established = true
			}
		}
		if established {
			// Served: a list through a fresh client (fresh discovery) works.
			c, err := client.New(h.seedCfg, client.Options{Scheme: kubernetes.SeedScheme})
			if err != nil {
				return err
			}
			if err := c.List(h.ctx, list, client.Limit(1)); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not served within 30 s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// admit runs Gardener's validation and the ControllerRegistrationResources admission plugin (as gardener-apiserver
// does on create) for every ControllerRegistration of the file, against the registrations in the fake garden. It
// stores nothing.
func (h *harness) admit(file string, out *gardenOutput) error {
	objs, err := readObjects(file)
	if err != nil {
		return err
	}
	crl := &gardencorev1beta1.ControllerRegistrationList{}
	if err := h.gardenRaw.List(h.ctx, crl); err != nil {
		return err
	}
	existing := make([]runtime.Object, 0, len(crl.Items))
	for i := range crl.Items {
		existing = append(existing, &crl.Items[i])
	}
	plugin, err := crresources.New()
	if err != nil {
		return err
	}
	plugin.SetCoreClientSet(gardencorefake.NewSimpleClientset(existing...))
	for _, o := range objs {
		reg, ok := o.(*gardencorev1beta1.ControllerRegistration)
		if !ok {
			continue
		}
		internal := &core.ControllerRegistration{}
		if err := kubernetes.GardenScheme.Convert(reg, internal, nil); err != nil {
			return err
		}
		av := admissionView{Name: reg.Name, Validation: []string{}}
		for _, e := range corevalidation.ValidateControllerRegistration(internal) {
			av.Validation = append(av.Validation, e.Error())
		}
		attrs := admission.NewAttributesRecord(internal, nil, core.Kind("ControllerRegistration").WithVersion("version"), "",
			reg.Name, core.Resource("controllerregistrations").WithVersion("version"), "", admission.Create,
			&metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "admin"})
		if err := plugin.Validate(h.ctx, attrs, nil); err != nil {
			av.Admission = err.Error()
		}
		av.Allowed = len(av.Validation) == 0 && av.Admission == ""
		out.Admission = append(out.Admission, av)
	}
	return nil
}

// wiGetter plays the WorkloadIdentity storage for TokenRequestREST: one WorkloadIdentity, whatever the name.
type wiGetter struct{ namespace string }

func (g wiGetter) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	return &securityapi.WorkloadIdentity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: g.namespace, UID: fakeUID("WorkloadIdentity", g.namespace, name)},
		Spec:       securityapi.WorkloadIdentitySpec{Audiences: []string{"backupentry-lifecycle-test"}},
		Status:     securityapi.WorkloadIdentityStatus{Sub: "gardener.cloud:workloadidentity:" + g.namespace + ":" + name + ":" + string(fakeUID("WorkloadIdentity", g.namespace, name))},
	}, nil
}

// token asks gardener-apiserver's TokenRequest storage for a WorkloadIdentity token with the given context object, as
// gardenlet does (user in the seeds group, which is when resolveContextObject checks the context object), with
// listers over the fake garden's objects.
func (h *harness) token(kind, name, namespace, uid string, out *gardenOutput) error {
	if name == "" {
		return errors.New("--name is required")
	}
	newIndexer := func() toolscache.Indexer {
		return toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	}
	seeds, buckets, entries, shoots, projects := newIndexer(), newIndexer(), newIndexer(), newIndexer(), newIndexer()
	sl, bbl, bel, shl, pl := &gardencorev1beta1.SeedList{}, &gardencorev1beta1.BackupBucketList{}, &gardencorev1beta1.BackupEntryList{}, &gardencorev1beta1.ShootList{}, &gardencorev1beta1.ProjectList{}
	for _, l := range []client.ObjectList{sl, bbl, bel, shl, pl} {
		if err := h.gardenRaw.List(h.ctx, l); err != nil {
			return err
		}
	}
	add := func(ix toolscache.Indexer, o any) error { return ix.Add(o) }
	for i := range sl.Items {
		if err := add(seeds, &sl.Items[i]); err != nil {
			return err
		}
	}
	for i := range bbl.Items {
		if err := add(buckets, &bbl.Items[i]); err != nil {
			return err
		}
	}
	for i := range bel.Items {
		if err := add(entries, &bel.Items[i]); err != nil {
			return err
		}
	}
	for i := range shl.Items {
		if err := add(shoots, &shl.Items[i]); err != nil {
			return err
		}
	}
	for i := range pl.Items {
		if err := add(projects, &pl.Items[i]); err != nil {
			return err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	issuer, err := workloadidentityutils.NewTokenIssuer(key, "https://issuer.gardener-harness.local", 600, 48*3600)
	if err != nil {
		return err
	}
	rest := wistorage.NewTokenRequestREST(wiGetter{namespace: namespace}, issuer,
		gardencorev1beta1listers.NewShootLister(shoots), gardencorev1beta1listers.NewSeedLister(seeds),
		gardencorev1beta1listers.NewProjectLister(projects), gardencorev1beta1listers.NewBackupBucketLister(buckets),
		gardencorev1beta1listers.NewBackupEntryLister(entries))

	co := securityv1alpha1.ContextObject{Kind: kind, APIVersion: gardencorev1beta1.SchemeGroupVersion.String(), Name: name}
	var live client.Object
	switch kind {
	case "BackupEntry":
		co.Namespace = &namespace
		live = &gardencorev1beta1.BackupEntry{}
	case "BackupBucket":
		live = &gardencorev1beta1.BackupBucket{}
	case "Seed":
		live = &gardencorev1beta1.Seed{}
	default:
		return fmt.Errorf("--kind %q: BackupEntry, BackupBucket or Seed", kind)
	}
	switch {
	case uid != "":
		co.UID = types.UID(uid)
	default:
		ns := ""
		if co.Namespace != nil {
			ns = *co.Namespace
		}
		co.UID = fakeUID(kind, ns, name)
		if err := h.gardenRaw.Get(h.ctx, client.ObjectKey{Namespace: ns, Name: name}, live); err == nil {
			co.UID = live.GetUID()
		}
	}
	tr := &securityv1alpha1.TokenRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: namespace},
		Spec:       securityv1alpha1.TokenRequestSpec{ContextObject: &co, ExpirationSeconds: new(int64(3600))},
	}
	ctx := genericapirequest.WithNamespace(h.ctx, namespace)
	ctx = genericapirequest.WithUser(ctx, &user.DefaultInfo{
		Name:   v1beta1constants.SeedUserNamePrefix + h.seedName,
		Groups: []string{v1beta1constants.SeedsGroup, user.AllAuthenticated},
	})
	tv := &tokenView{ContextObject: co}
	res, err := rest.Create(ctx, "backup", tr, nil, &metav1.CreateOptions{})
	if err != nil {
		tv.Error = err.Error()
	} else if t, ok := res.(*securityv1alpha1.TokenRequest); ok && t.Status.Token != "" {
		tv.Issued = true
		parts := strings.Split(t.Status.Token, ".")
		if len(parts) == 3 {
			if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				_ = json.Unmarshal(b, &tv.Claims)
			}
		}
	}
	out.Token = tv
	return nil
}
