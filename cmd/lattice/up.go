package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/lattice-federation/lattice/apiserver"
	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/member"
)

// maxUpMembers bounds lattice up (each member is a process).
const maxUpMembers = 64

// upRegions label the members of a local federation round-robin, so that
// placement by region can be tried at once.
var upRegions = []string{"region-a", "region-b", "region-c"}

func newUpCmd() *cobra.Command {
	var (
		members, basePort int
		dir, name         string
		startDelay        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up [--members N] [--dir DIR]",
		Short: "Start a local federation on this machine",
		Long: `Start a local federation of N members on this machine, each a separate
'lattice agent' process with an embedded simulated cluster, gossiping over
real QUIC on loopback, and run it until interrupted (Ctrl-C or SIGTERM);
then stop every process it started.

Member i keeps its data in DIR/member-i (replica ID member-i) and its log in
DIR/member-i/agent.log. The first run founds federation NAME at member-1 and
invites the others; running 'lattice up' again on the same DIR resumes from
what is on disk (adding members if --members grew). Member i gossips on UDP
127.0.0.1:BASE+i-1, serves metrics on TCP 127.0.0.1:BASE+100+i-1 and the
federation API (HTTPS) on TCP 127.0.0.1:BASE+200+i-1; its label
topology.kubernetes.io/region cycles through region-a, region-b, region-c.

DIR/kubeconfig has one context per member, member-1 ... member-N, so
'kubectl --kubeconfig DIR/kubeconfig --context member-2 get
federateddeployments' works against any member. 'lattice status --dir DIR'
shows the members and federated deployments, and 'lattice apply -f FILE
--data-dir DIR/member-i' writes objects through a member without the API.`,
		Example: `  lattice up
  lattice up --members 5 --dir /tmp/fed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case members < 1 || members > maxUpMembers:
				return usageErrorf(cmd, "--members must be between 1 and %d, got %d", maxUpMembers, members)
			case dir == "":
				return usageErrorf(cmd, "--dir must not be empty")
			case basePort < 1024 || basePort+200+members > 65535:
				return usageErrorf(cmd, "--base-port %d: want 1024 or more, leaving room for %d ports above it", basePort, 200+members)
			case startDelay < 0:
				return usageErrorf(cmd, "--embedded-start-delay must not be negative")
			}
			if err := identity.ValidateName(name); err != nil {
				return usageErrorf(cmd, "invalid --name: %v", err)
			}
			u := &upRun{cmd: cmd, dir: dir, name: name, n: members, base: basePort, startDelay: startDelay}
			return u.run(cmd.Context())
		},
	}
	cmd.Flags().IntVar(&members, "members", 3, "number of members")
	cmd.Flags().StringVar(&dir, "dir", "./.lattice", "directory for the members' data and logs")
	cmd.Flags().StringVar(&name, "name", "local", "name of the federation founded on the first run")
	cmd.Flags().IntVar(&basePort, "base-port", 7946, "first gossip port (UDP); metrics ports start 100 above, API ports 200 above")
	cmd.Flags().DurationVar(&startDelay, "embedded-start-delay", 2*time.Second, "embedded clusters: time from placing a pod to its being ready")
	return cmd
}

type upRun struct {
	cmd        *cobra.Command
	dir, name  string
	n, base    int
	startDelay time.Duration
	procs      []*upProc
}

type upProc struct {
	name, dir, gossip, metrics, api string
	cmd                             *exec.Cmd
	exited                          chan error
	log                             *os.File
}

func (u *upRun) memberDir(i int) string { return filepath.Join(u.dir, fmt.Sprintf("member-%d", i+1)) }

func (u *upRun) run(ctx context.Context) (err error) {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the lattice binary: %w", err)
	}
	if strings.HasSuffix(bin, ".test") {
		// Members are this binary run as 'lattice agent'; a test binary
		// would run its tests instead.
		return errors.New("lattice up must run from the lattice binary, not a test binary")
	}
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return err
	}
	for i := range u.n {
		if c, err := admin.Dial(u.memberDir(i)); err == nil {
			c.Close()
			return fmt.Errorf("member-%d already runs on %s: is another 'lattice up' running on %s? Stop it first", i+1, u.memberDir(i), u.dir)
		}
	}
	if err := u.prepare(bin); err != nil {
		return err
	}
	defer u.stopAll()
	for i := range u.n {
		if err := u.start(bin, i); err != nil {
			return err
		}
	}
	kubeconfig, err := u.writeKubeconfig()
	if err != nil {
		return err
	}
	out := u.cmd.OutOrStdout()
	fmt.Fprintf(out, "Lattice federation %q is up: %d members on this machine (Ctrl-C stops them all)\n", u.name, u.n)
	for _, p := range u.procs {
		fmt.Fprintf(out, "  %-10s gossip %-16s api https://%-16s metrics http://%s/metrics  log %s\n", p.name, p.gossip, p.api, p.metrics, filepath.Join(p.dir, "agent.log"))
	}
	fmt.Fprintf(out, "Try:\n  export KUBECONFIG=%s\n  kubectl --context member-%d get federateddeployments,members\n  lattice status --dir %s\n",
		shellQuote(kubeconfig), u.n, shellQuote(u.dir))
	exited := make(chan int, len(u.procs))
	for i, p := range u.procs {
		go func() {
			err := <-p.exited
			p.exited <- err // leave it for stopAll
			exited <- i
		}()
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "Stopping the federation…")
			return nil
		case i := <-exited:
			p := u.procs[i]
			fmt.Fprintf(u.cmd.ErrOrStderr(), "lattice up: %s exited unexpectedly; the rest keep running. Its log: %s\n", p.name, filepath.Join(p.dir, "agent.log"))
		}
	}
}

// prepare creates the members' directories, identities, the federation
// and the invitations that are missing.
func (u *upRun) prepare(bin string) error {
	for i := range u.n {
		if _, err := member.Init(u.memberDir(i), crdt.ReplicaID(fmt.Sprintf("member-%d", i+1))); err != nil {
			return err
		}
	}
	founder := u.memberDir(0)
	f, err := member.ReadFederation(founder)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := u.exec(bin, "federation", "init", "--name", u.name, "--data-dir", founder); err != nil {
			return err
		}
	case err != nil:
		return err
	case f.Name != u.name:
		return fmt.Errorf("%s holds federation %q, not %q; pass --name %s or use another --dir", u.dir, f.Name, u.name, f.Name)
	}
	for i := 1; i < u.n; i++ {
		d := u.memberDir(i)
		if _, err := member.ReadFederation(d); err == nil {
			continue
		}
		id, err := identity.Load(d)
		if errors.Is(err, identity.ErrNoIdentity) {
			id, err = identity.Generate()
			if err == nil {
				err = id.Save(d)
			}
		}
		if err != nil {
			return err
		}
		if err := u.exec(bin, "invite", "--data-dir", founder, "--did", id.DID(), "--out", filepath.Join(d, "invitation.json"), "--force"); err != nil {
			return err
		}
	}
	return nil
}

// exec runs a lattice subcommand to completion, its output discarded
// unless it fails.
func (u *upRun) exec(bin string, args ...string) error {
	var out bytes.Buffer
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("lattice %s: %v: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (u *upRun) addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func (u *upRun) start(bin string, i int) error {
	d := u.memberDir(i)
	p := &upProc{name: fmt.Sprintf("member-%d", i+1), dir: d, gossip: u.addr(u.base + i), metrics: u.addr(u.base + 100 + i), api: u.addr(u.base + 200 + i)}
	args := []string{"agent", "--data-dir", d, "--id", p.name, "--listen", p.gossip, "--metrics-listen", p.metrics, "--api-listen", p.api,
		"--cluster", "embedded", "--embedded-start-delay", u.startDelay.String(),
		"--labels", federation.LabelRegion + "=" + upRegions[i%len(upRegions)]}
	var join []string
	for j := range u.n {
		if j != i {
			join = append(join, u.addr(u.base+j))
		}
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	if _, err := member.ReadFederation(d); err != nil {
		args = append(args, "--credential", filepath.Join(d, "invitation.json"))
	}
	logf, err := os.OpenFile(filepath.Join(d, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.log = logf
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Own process group: Ctrl-C in the terminal reaches only lattice up,
	// which then stops its members in order.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	u.procs = append(u.procs, p)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := admin.Dial(d); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s exited at start (%v); the end of its log %s:\n%s", p.name, err, filepath.Join(d, "agent.log"), tail(filepath.Join(d, "agent.log"), 10))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60s; see %s", p.name, filepath.Join(d, "agent.log"))
		}
	}
}

// writeKubeconfig writes DIR/kubeconfig with one context per member,
// member-1 … member-N, from the credentials each member keeps in its api/
// directory.
func (u *upRun) writeKubeconfig() (string, error) {
	contexts := map[string]member.KubeContext{}
	for i, p := range u.procs {
		dir := member.APIDir(u.memberDir(i))
		ca, err := os.ReadFile(filepath.Join(dir, apiserver.CAFile))
		if err != nil {
			return "", fmt.Errorf("%s's API CA: %w", p.name, err)
		}
		tok, err := os.ReadFile(filepath.Join(dir, apiserver.TokenFile))
		if err != nil {
			return "", fmt.Errorf("%s's API token: %w", p.name, err)
		}
		contexts[p.name] = member.KubeContext{Server: "https://" + p.api, CA: ca, Token: strings.TrimSpace(string(tok))}
	}
	path, err := filepath.Abs(filepath.Join(u.dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	if err := clientcmd.WriteToFile(*member.Kubeconfig(contexts), path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, os.Chmod(path, 0o600)
}

// stopAll sends SIGTERM to every member, waits for each (killing those
// that take longer than 30 s), and closes the logs.
func (u *upRun) stopAll() {
	for _, p := range u.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range u.procs {
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.log.Close()
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runMemberConfig runs the member cfg describes until the command's context
// is cancelled (SIGINT, SIGTERM).
func runMemberConfig(cmd *cobra.Command, cfg member.Config, level string) error {
	lvl, err := parseLogLevel(level)
	if err != nil {
		return err
	}
	log := newLogger(cmd.ErrOrStderr(), lvl)
	// The Kubernetes libraries (API server, client-go) log through klog.
	klog.SetSlogLogger(log.With("component", "k8s"))
	cfg.Logger = log
	cfg.Ready = func(id crdt.ReplicaID) {
		q := shellQuote(cfg.Dir)
		log.Info(fmt.Sprintf("%s ready: data in %s; try: lattice store dump --data-dir %s", id, cfg.Dir, q))
	}
	return member.Run(cmd.Context(), cfg)
}
