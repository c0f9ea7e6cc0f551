package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A Redis Cluster (three primaries, three replicas) and a Sentinel setup
// (a primary, a replica, three sentinels) of a test package's own, on free
// ports of 127.0.0.1, keeping nothing on disk. SharedCluster and
// SharedSentinel start one per test binary, the first time a test asks,
// and it lives until the binary exits; each test keeps to a key prefix of
// its own (a random one: see TopologyPrefix). A test that kills or moves
// nodes starts its own with StartCluster or StartSentinel.

// SentinelMaster is the name the sentinels know the primary by.
const SentinelMaster = "simpleapi"

// RedisCluster is a running Redis Cluster.
type RedisCluster struct {
	Nodes []*RedisNode // the first three were created primaries
}

// Addrs are the nodes' host:port addresses.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// RedisSentinel is a primary, its replica and three sentinels watching
// it as SentinelMaster.
type RedisSentinel struct {
	Primary, Replica *RedisNode
	Sentinels        []*RedisNode
}

// SentinelAddrs are the sentinels' host:port addresses.
func (s *RedisSentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr()
	}
	return addrs
}

// RedisNode is one redis-server process (a data node or a sentinel).
type RedisNode struct {
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is the node's host:port.
func (n *RedisNode) Addr() string { return fmt.Sprintf("127.0.0.1:%d", n.Port) }

// Kill kills the node without warning (kill -9) and waits for it to exit.
func (n *RedisNode) Kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

var (
	sharedMu       sync.Mutex
	sharedCluster  *RedisCluster
	sharedSentinel *RedisSentinel
)

// SharedCluster returns the test binary's Cluster, started on first use.
func SharedCluster(t testing.TB) *RedisCluster {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCluster == nil {
		c, err := startCluster(shared)
		if err != nil {
			t.Fatalf("Redis Cluster: %v", err)
		}
		sharedCluster = c
	}
	return sharedCluster
}

// SharedSentinel returns the test binary's Sentinel setup, started on
// first use.
func SharedSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSentinel == nil {
		s, err := startSentinel(shared)
		if err != nil {
			t.Fatalf("Redis Sentinel: %v", err)
		}
		sharedSentinel = s
	}
	return sharedSentinel
}

// StartCluster starts a Cluster of the test's own, killed when it ends.
func StartCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return startOwn(t, "Redis Cluster", startCluster)
}

// StartSentinel starts a Sentinel setup of the test's own, killed when it
// ends.
func StartSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	return startOwn(t, "Redis Sentinel", startSentinel)
}

// startOwn runs start with a starter that keeps every node it starts, so
// that all of them are killed when the test ends, even when start fails
// halfway.
func startOwn[T any](t testing.TB, what string, start func(starter) (T, error)) T {
	t.Helper()
	var nodes []*RedisNode
	v, err := start(func(args ...string) (*RedisNode, error) {
		n, err := startNode(args...)
		if n != nil {
			nodes = append(nodes, n)
		}
		return n, err
	})
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Kill()
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TopologyPrefix returns a random key prefix, label:<random>:, for a test
// on a shared Cluster or Sentinel setup: those live only as long as the
// test binary, so nothing is deleted after the test.
func TopologyPrefix(label string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return label + ":" + hex.EncodeToString(b) + ":"
}

// starter starts a redis-server with args.
type starter func(args ...string) (*RedisNode, error)

// shared starts the processes of the shared topologies from one OS thread
// that lives as long as the binary: they get SIGKILL when it exits
// (Pdeathsig follows the thread that started the child, and Go ends
// threads at will otherwise).
func shared(args ...string) (*RedisNode, error) {
	spawnOnce.Do(func() {
		spawns = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range spawns {
				n, err := startNode(r.args...)
				r.reply <- spawnReply{n, err}
			}
		}()
	})
	reply := make(chan spawnReply)
	spawns <- spawnRequest{args, reply}
	r := <-reply
	return r.node, r.err
}

type spawnRequest struct {
	args  []string
	reply chan spawnReply
}

type spawnReply struct {
	node *RedisNode
	err  error
}

var (
	spawnOnce sync.Once
	spawns    chan spawnRequest
)

// startNode starts redis-server with args (the first is the port) and
// waits until it listens.
func startNode(args ...string) (*RedisNode, error) {
	var port int
	if _, err := fmt.Sscan(args[0], &port); err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server must be installed: %w", err)
	}
	n := &RedisNode{Port: port, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done) }()
	// The process's start is awaited, not a clock.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", n.Addr())
		if err == nil {
			_ = c.Close()
			return n, nil
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("redis-server on port %d exited", port)
		default:
		}
		if time.Now().After(deadline) {
			n.Kill()
			return nil, fmt.Errorf("redis-server did not start on port %d: %v", port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clusterPort returns a free port p whose cluster bus port p+10000 is
// free too (so p < 55536).
func clusterPort() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if p >= 55536 {
			continue
		}
		bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free port below 55536 with its bus port free")
}

func dataArgs(port int, dir string) []string {
	return []string{fmt.Sprint(port), "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir}
}

func startCluster(start starter) (*RedisCluster, error) {
	c := &RedisCluster{}
	for range 6 {
		port, err := clusterPort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "redis-cluster-")
		if err != nil {
			return nil, err
		}
		n, err := start(append(dataArgs(port, dir), "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000")...)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	// Every node must know every slot's owner before a client trusts it,
	// and every replica must have copied its primary: one that never has
	// would not take its place.
	return c, waitUntil(func(ctx context.Context) bool {
		for _, n := range c.Nodes {
			info, err := nodeClient(n).ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:6") {
				return false
			}
			repl, err := nodeClient(n).Info(ctx, "replication").Result()
			if err != nil || !strings.Contains(repl, "master_link_status:up") && !strings.Contains(repl, "connected_slaves:1") {
				return false
			}
			nodes, err := nodeClient(n).ClusterNodes(ctx).Result()
			if err != nil || strings.Count(nodes, "slave") != 3 {
				return false
			}
		}
		return true
	})
}

func startSentinel(start starter) (*RedisSentinel, error) {
	s := &RedisSentinel{}
	ports := make([]int, 5)
	for i := range ports {
		port, err := clusterPort()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	dir, err := os.MkdirTemp("", "redis-sentinel-")
	if err != nil {
		return nil, err
	}
	if s.Primary, err = start(dataArgs(ports[0], dir)...); err != nil {
		return nil, err
	}
	replicaDir := filepath.Join(dir, "replica")
	if err := os.Mkdir(replicaDir, 0o700); err != nil {
		return nil, err
	}
	if s.Replica, err = start(append(dataArgs(ports[1], replicaDir),
		"--replicaof", "127.0.0.1", fmt.Sprint(ports[0]))...); err != nil {
		return nil, err
	}
	for _, port := range ports[2:] {
		// A sentinel rewrites its configuration file: one each.
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n", port, dir, SentinelMaster, ports[0],
			SentinelMaster, SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		n, err := start(fmt.Sprint(port), conf, "--sentinel")
		if err != nil {
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, n)
	}
	// Ready when the replica copies the primary and every sentinel knows
	// the replica and the other two sentinels.
	return s, waitUntil(func(ctx context.Context) bool {
		info, err := nodeClient(s.Replica).Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, n := range s.Sentinels {
			sc := goredis.NewSentinelClient(&goredis.Options{Addr: n.Addr()})
			m, err := sc.Master(ctx, SentinelMaster).Result()
			_ = sc.Close()
			if err != nil || m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
}

// nodeClient is a client of node n alone, closed by nothing: the tests'
// processes end with them.
func nodeClient(n *RedisNode) *goredis.Client {
	nodeClientsMu.Lock()
	defer nodeClientsMu.Unlock()
	if c, ok := nodeClients[n.Port]; ok {
		return c
	}
	c := goredis.NewClient(&goredis.Options{Addr: n.Addr(), MaxRetries: -1})
	nodeClients[n.Port] = c
	return c
}

var (
	nodeClientsMu sync.Mutex
	nodeClients   = map[int]*goredis.Client{}
)

// waitUntil polls ready every 50 ms for up to a minute: it waits for
// other processes, not for a clock.
func waitUntil(ready func(ctx context.Context) bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ok := ready(ctx)
		cancel()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReplicaOf returns the node that replicates primary p now, nil for none.
func (c *RedisCluster) ReplicaOf(p *RedisNode) *RedisNode {
	id := c.NodeID(p)
	for _, n := range c.Nodes {
		if n == p {
			continue
		}
		nodes, err := nodeClient(n).ClusterNodes(context.Background()).Result()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.Contains(f[2], "myself") && strings.Contains(f[2], "slave") && f[3] == id {
				return n
			}
		}
	}
	return nil
}

// NodeID is node n's Cluster id ("" when it does not answer).
func (c *RedisCluster) NodeID(n *RedisNode) string {
	id, err := nodeClient(n).Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		return ""
	}
	return id
}
