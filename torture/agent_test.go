package torture

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
)

// binary is the agent, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() { // every scenario skips itself; nothing to build
		os.Exit(m.Run())
	}
	agenttest.Main(m, "../cmd/audittail", &binary)
}

// agentRun is one process of the agent.
type agentRun struct {
	n      int // 1 for the first start
	cmd    *exec.Cmd
	stderr *agenttest.Buffer
	done   chan struct{}
	how    string // how it ended: "SIGTERM exit 0", "SIGKILL", ...
}

func (a *agentRun) running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// agents starts and stops the successive processes of one scenario, all
// with the same flags (and so the same checkpoint), and keeps their peak RSS
// and logs.
type agents struct {
	t    *testing.T
	args []string
	runs []*agentRun
	peak int64 // max VmHWM over the processes, in bytes, read just before each stop
}

func newAgents(t *testing.T, args ...string) *agents {
	g := &agents{t: t, args: args}
	t.Cleanup(func() {
		for _, a := range g.runs {
			if a.running() {
				a.cmd.Process.Kill()
				<-a.done
			}
		}
		if t.Failed() {
			g.dumpLogs()
		}
	})
	return g
}

// start starts a new agent process.
func (g *agents) start() *agentRun {
	g.t.Helper()
	a := &agentRun{n: len(g.runs) + 1, cmd: exec.Command(binary, g.args...), stderr: &agenttest.Buffer{}, done: make(chan struct{})}
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		g.t.Fatalf("start agent: %v", err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	g.runs = append(g.runs, a)
	return a
}

// cur is the newest process.
func (g *agents) cur() *agentRun { return g.runs[len(g.runs)-1] }

// restarts is how many times the agent was started after the first.
func (g *agents) restarts() int { return max(len(g.runs)-1, 0) }

// waitStarted waits for the start-up line ("audittail starting", logged at
// info once the tailer holds its start position and the checkpoint exists).
func (g *agents) waitStarted(a *agentRun) {
	g.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(a.stderr.String(), `"audittail starting"`) {
		if !a.running() {
			g.t.Fatalf("agent #%d exited (%v) before its start-up line:\n%s", a.n, a.cmd.ProcessState, a.stderr.String())
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("agent #%d logged no start-up line within 60 s:\n%s", a.n, a.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop records the process's peak RSS, sends sig and waits for it to end.
// It returns the exit code (-1 when killed by a signal).
func (g *agents) stop(a *agentRun, sig syscall.Signal) int {
	g.t.Helper()
	if rss := agenttest.PeakRSS(a.cmd.Process.Pid); rss > g.peak {
		g.peak = rss
	}
	a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		g.t.Fatalf("agent #%d still running 30 s after %v (it should exit within 10 s)", a.n, sig)
	}
	code := a.cmd.ProcessState.ExitCode()
	a.how = fmt.Sprintf("%v, exit code %d", sig, code)
	return code
}

// peakMiB is the peak RSS in MiB.
func (g *agents) peakMiB() float64 { return float64(g.peak) / (1 << 20) }

// dumpLogs logs, for every process, its warnings and errors and the end of
// its log.
func (g *agents) dumpLogs() {
	for _, a := range g.runs {
		s := a.stderr.String()
		var notable []string
		sc := bufio.NewScanner(strings.NewReader(s))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) ||
				strings.Contains(l, "resuming") || strings.Contains(l, "truncated") || strings.Contains(l, "no longer exists") {
				notable = append(notable, l)
			}
		}
		if len(notable) > 40 {
			notable = append(notable[:20], append([]string{fmt.Sprintf("... %d more ...", len(notable)-40)}, notable[len(notable)-20:]...)...)
		}
		g.t.Logf("agent #%d (%s): warnings, errors, resume and truncation lines:\n%s\nend of its log:\n%s",
			a.n, a.how, strings.Join(notable, "\n"), agenttest.Tail(s, 3000))
	}
}

// resumeLines returns the lines where a process says where it resumed.
func (a *agentRun) resumeLines() []string {
	var out []string
	for _, l := range strings.Split(a.stderr.String(), "\n") {
		if strings.Contains(l, "resuming from checkpoint") || strings.Contains(l, "no longer exists") {
			out = append(out, l)
		}
	}
	return out
}
