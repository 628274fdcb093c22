package console

// Crash kinds.
const (
	KindPanic          = "kernel_panic"
	KindOops           = "oops"
	KindBug            = "bug"
	KindWarning        = "warning" // WARN_ON, lockdep and other debug checks
	KindKASAN          = "kasan"
	KindKCSAN          = "kcsan"
	KindKFENCE         = "kfence"
	KindUBSAN          = "ubsan"
	KindLockup         = "lockup" // soft, hard and workqueue lockups
	KindRCUStall       = "rcu_stall"
	KindHungTask       = "hung_task"
	KindOOM            = "oom"
	KindInitDied       = "init_died"
	KindReboot         = "reboot" // a reboot nobody asked for
	KindEarlyBootError = "early_boot_error"
	KindFirmwareError  = "firmware_error"
	KindQEMUError      = "qemu_error"
)

// Kinds returns every crash kind.
func Kinds() []string {
	return []string{
		KindPanic, KindOops, KindBug, KindWarning, KindKASAN, KindKCSAN,
		KindKFENCE, KindUBSAN, KindLockup, KindRCUStall, KindHungTask, KindOOM,
		KindInitDied, KindReboot, KindEarlyBootError, KindFirmwareError, KindQEMUError,
	}
}

// defaultFatal holds the kinds that fail a boot unless told otherwise.
// The others are reported as failing log-parser tests and the boot goes
// on: a WARNING, a lockdep splat, a stall, a hung task, a soft lockup, a
// UBSAN report or an OOM kill leave a working system behind, and a panic
// they cause is reported on its own.
var defaultFatal = map[string]bool{
	KindPanic:          true,
	KindOops:           true,
	KindBug:            true,
	KindKASAN:          true,
	KindKCSAN:          true,
	KindKFENCE:         true,
	KindInitDied:       true,
	KindReboot:         true,
	KindEarlyBootError: true,
	KindFirmwareError:  true,
	KindQEMUError:      true,
}

// LogCheckName is the name of the failing log-parser test that reports a
// non-fatal crash of kind, as LKFT names them: "check-kernel-warning".
func LogCheckName(kind string) string {
	b := []byte("check-kernel-" + kind)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// LogCheckSuite is the suite of the log-parser tests.
const LogCheckSuite = "log-parser"
