package console

import "bytes"

// stripANSI appends b to dst without terminal escape sequences (CSI, OSC
// and two-byte escapes), which firmware such as SeaBIOS and coloured
// test runners print.
func stripANSI(dst, b []byte) []byte {
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0x1b)
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i+1:]
		if len(b) == 0 {
			break
		}
		switch b[0] {
		case '[': // CSI: parameters, intermediates, one final byte
			j := 1
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
				j++
			}
			if j < len(b) && b[j] >= 0x40 && b[j] <= 0x7e {
				j++
			}
			b = b[j:]
		case ']': // OSC: up to BEL or ESC backslash
			j := 1
			for j < len(b) {
				if b[j] == 0x07 {
					j++
					break
				}
				if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
					j += 2
					break
				}
				j++
			}
			b = b[j:]
		default: // ESC, intermediates, one final byte
			j := 0
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x2f {
				j++
			}
			if j < len(b) {
				j++
			}
			b = b[j:]
		}
	}
	return dst
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// timestampLen returns the length of a printk timestamp such as
// "[    1.234567]" at the start of b, or 0, and whether it reads zero
// (the first line a kernel prints).
func timestampLen(b []byte) (n int, zero bool) {
	if len(b) < 4 || b[0] != '[' {
		return 0, false
	}
	i := 1
	for i < len(b) && b[i] == ' ' {
		i++
	}
	zero = true
	start := i
	for i < len(b) && isDigit(b[i]) {
		zero = zero && b[i] == '0'
		i++
	}
	if i == start || i >= len(b) || b[i] != '.' {
		return 0, false
	}
	i++
	start = i
	for i < len(b) && isDigit(b[i]) {
		zero = zero && b[i] == '0'
		i++
	}
	if i == start || i >= len(b) || b[i] != ']' {
		return 0, false
	}
	return i + 1, zero
}

// callerLen returns the length of a printk caller id such as "[  T123]"
// or "[ C1]" (CONFIG_PRINTK_CALLER) at the start of b, or 0.
func callerLen(b []byte) int {
	if len(b) < 4 || b[0] != '[' {
		return 0
	}
	i := 1
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i >= len(b) || (b[i] != 'T' && b[i] != 'C') {
		return 0
	}
	i++
	start := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == start || i >= len(b) || b[i] != ']' {
		return 0
	}
	return i + 1
}

// kernelPrefix describes the printk decorations stripped from a line.
type kernelPrefix struct {
	kernel   bool // a log level, timestamp or caller id was present
	zeroTime bool // the timestamp was [    0.000000]
}

// stripPrefix removes a "<N>" log level, a printk timestamp and a caller
// id from the start of b. Exactly one space after them goes too, so that
// the indentation KTAP relies on survives.
func stripPrefix(b []byte) ([]byte, kernelPrefix) {
	var p kernelPrefix
	if len(b) >= 3 && b[0] == '<' && isDigit(b[1]) {
		j := 2
		for j < len(b) && j < 4 && isDigit(b[j]) {
			j++
		}
		if j < len(b) && b[j] == '>' {
			b = b[j+1:]
			p.kernel = true
		}
	}
	if n, zero := timestampLen(b); n > 0 {
		b = b[n:]
		p.kernel, p.zeroTime = true, zero
		c := b
		if len(c) > 0 && c[0] == ' ' {
			c = c[1:]
		}
		if n := callerLen(c); n > 0 {
			b = c[n:]
		}
	} else if n := callerLen(b); n > 0 {
		b = b[n:]
		p.kernel = true
	}
	if p.kernel && len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b, p
}

// midTimestamp returns the index of a printk timestamp inside b after its
// first byte, or -1. A timestamp there means the kernel printed into the
// middle of a line of user-space output.
func midTimestamp(b []byte) int {
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], '[')
		if j < 0 {
			return -1
		}
		i += j
		if n, _ := timestampLen(b[i:]); n > 0 {
			return i
		}
		i++
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return trimRight(b)
}

func trimRight(b []byte) []byte {
	for len(b) > 0 {
		c := b[len(b)-1]
		if c != ' ' && c != '\t' && c != 0 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}
