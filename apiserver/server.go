package apiserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"
	certutil "k8s.io/client-go/util/cert"

	"github.com/lattice-federation/lattice/crdt"
)

// Mode is how the server authenticates and authorizes clients.
type Mode string

const (
	// Standalone: the server's own CA-signed certificate and a bearer
	// token (lattice up, lattice agent).
	Standalone Mode = "standalone"
	// Aggregated: behind a host kube-apiserver through an APIService;
	// authentication and authorization are delegated to the host
	// (TokenReview, SubjectAccessReview, front-proxy client certificates).
	Aggregated Mode = "aggregated"
)

// Config configures a Server.
type Config struct {
	// Store is the member's replicated store.
	Store *crdt.Store
	// Live returns the member's membership view (member names, self
	// included): the aggregated status counts only live members' reports.
	Live func() []string
	// Listen is the HTTPS address, host:port (port 0 picks one).
	Listen string
	Mode   Mode
	// Credentials: serving certificate (both modes) and, standalone, the
	// administrator token.
	Credentials Credentials
	// AuthenticationKubeconfig (aggregated) reaches the host
	// kube-apiserver for delegated authentication and authorization;
	// empty means in-cluster configuration.
	AuthenticationKubeconfig string
	// Now is the clock for status conditions (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns a standalone configuration on an ephemeral
// loopback port; Store, Live and Credentials must be filled in.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:0", Mode: Standalone, Now: time.Now}
}

// AdminUser is the user a standalone server's token authenticates as.
const AdminUser = "lattice-admin"

// Server is a running federation API server.
type Server struct {
	cfg    Config
	ln     net.Listener
	server *genericapiserver.GenericAPIServer
	scheme *runtime.Scheme
}

// New validates cfg, listens and builds the server; Run serves.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil || cfg.Live == nil:
		return nil, errors.New("apiserver: Store and Live are required")
	case cfg.Mode != Standalone && cfg.Mode != Aggregated:
		return nil, fmt.Errorf("apiserver: unknown mode %q (want standalone or aggregated)", cfg.Mode)
	case len(cfg.Credentials.ServingCert) == 0 || len(cfg.Credentials.ServingKey) == 0:
		return nil, errors.New("apiserver: a serving certificate is required")
	case cfg.Mode == Standalone && len(cfg.Credentials.Token) < 32:
		return nil, errors.New("apiserver: standalone mode needs a token of at least 32 characters")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	scheme, codecs, err := NewScheme()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("apiserver: listen %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ln: ln, scheme: scheme}
	if err := s.build(codecs); err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) build(codecs serializer.CodecFactory) error {
	gc := genericapiserver.NewRecommendedConfig(codecs)
	gc.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	cert, err := dynamiccertificates.NewStaticCertKeyContent("lattice-api-serving", s.cfg.Credentials.ServingCert, s.cfg.Credentials.ServingKey)
	if err != nil {
		return fmt.Errorf("apiserver: serving certificate: %w", err)
	}
	gc.SecureServing = &genericapiserver.SecureServingInfo{Listener: s.ln, Cert: cert, MinTLSVersion: tls.VersionTLS12}
	gc.ExternalAddress = s.ln.Addr().String()
	// The generic server talks to itself over a loopback client with its
	// own certificate (SNI) and a random token it alone knows.
	lbCert, lbKey, err := certutil.GenerateSelfSignedCertKey(genericapiserver.LoopbackClientServerNameOverride, nil, nil)
	if err != nil {
		return fmt.Errorf("apiserver: loopback certificate: %w", err)
	}
	lb, err := dynamiccertificates.NewStaticSNICertKeyContent("lattice-api-loopback", lbCert, lbKey, genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return fmt.Errorf("apiserver: loopback certificate: %w", err)
	}
	gc.SecureServing.SNICerts = append(gc.SecureServing.SNICerts, lb)
	if gc.LoopbackClientConfig, err = gc.SecureServing.NewLoopbackClientConfig(string(uuid.NewUUID()), lbCert); err != nil {
		return fmt.Errorf("apiserver: loopback client: %w", err)
	}
	namer := openapinamer.NewDefinitionNamer(s.scheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(definitions, namer)
	gc.OpenAPIConfig.Info.Title, gc.OpenAPIConfig.Info.Version = "Lattice federation", GroupVersion.Version
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	gc.OpenAPIV3Config.Info.Title, gc.OpenAPIV3Config.Info.Version = "Lattice federation", GroupVersion.Version
	// Profiling endpoints are not for a multi-tenant API.
	gc.EnableProfiling = false

	switch s.cfg.Mode {
	case Standalone:
		gc.Authentication.Authenticator = union.New(
			bearertoken.New(authenticator.TokenFunc(s.authenticateToken)),
			authenticator.RequestFunc(healthAnonymous),
		)
		// The one authenticated user is the administrator; anonymous
		// requests only ever reach the health endpoints.
		gc.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	case Aggregated:
		authn := genericoptions.NewDelegatingAuthenticationOptions()
		authn.RemoteKubeConfigFile = s.cfg.AuthenticationKubeconfig
		authn.RemoteKubeConfigFileOptional = false
		if err := authn.ApplyTo(&gc.Authentication, gc.SecureServing, gc.OpenAPIConfig); err != nil {
			return fmt.Errorf("apiserver: delegated authentication: %w", err)
		}
		authz := genericoptions.NewDelegatingAuthorizationOptions()
		authz.RemoteKubeConfigFile = s.cfg.AuthenticationKubeconfig
		if err := authz.ApplyTo(&gc.Authorization); err != nil {
			return fmt.Errorf("apiserver: delegated authorization: %w", err)
		}
	}

	srv, err := gc.Complete().New("lattice-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	s.server = srv
	group := genericapiserver.NewDefaultAPIGroupInfo(GroupVersion.Group, s.scheme, metav1.ParameterCodec, codecs)
	group.VersionedResourcesStorageMap[GroupVersion.Version] = s.storages()
	if err := srv.InstallAPIGroup(&group); err != nil {
		return fmt.Errorf("apiserver: install %s: %w", GroupVersion, err)
	}
	return nil
}

// storages builds every served resource's storage.
func (s *Server) storages() map[string]rest.Storage {
	store := s.cfg.Store
	d := &deployments{store: store, live: s.cfg.Live, now: s.cfg.Now}
	dr := newReadStorage(d, store)
	ds := &deploymentStorage{readStorage: dr, d: d}
	return map[string]rest.Storage{
		deploymentsInfo.plural:             ds,
		deploymentsInfo.plural + "/status": &deploymentStatusStorage{r: dr},
		deploymentsInfo.plural + "/scale":  &scaleStorage{s: ds},
		membersInfo.plural:                 newReadStorage(&members{store: store, live: s.cfg.Live}, store),
		identitiesInfo.plural:              newReadStorage(&identities{store: store}, store),
		ledgerEntriesInfo.plural:           newReadStorage(&ledgerEntries{store: store}, store),
	}
}

// Run serves until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	return s.server.PrepareRun().RunWithContext(ctx)
}

func (s *Server) authenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Credentials.Token)) != 1 {
		// A wrong token is an authentication failure (401), not a
		// fall-through to anonymous.
		return nil, false, errors.New("invalid bearer token")
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name: AdminUser, Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated},
	}}, true, nil
}

// healthAnonymous admits unauthenticated probes of the health endpoints
// only; everything else without a valid token is a 401.
func healthAnonymous(r *http.Request) (*authenticator.Response, bool, error) {
	switch p := r.URL.Path; {
	case p == "/healthz", p == "/readyz", p == "/livez",
		strings.HasPrefix(p, "/healthz/"), strings.HasPrefix(p, "/readyz/"), strings.HasPrefix(p, "/livez/"):
		return &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}}, true, nil
	}
	return nil, false, nil
}
