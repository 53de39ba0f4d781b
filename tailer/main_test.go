package tailer

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them. The
// tests rotate files with lumberjack, whose Logger starts one goroutine for
// its compression and never stops it (Close leaves it waiting: lumberjack.go
// v2.2.1, millRun); that goroutine is the writer's, not the tailer's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}
