package pid1

// globMatch reports whether s matches pattern in the shell's glob syntax
// that modules.alias uses (fnmatch(3) without flags, as kmod calls it):
// "*" matches any run of bytes, "/" included, "?" any one byte, and
// "[...]" a class with ranges and a leading "!" or "^" to negate. A
// malformed class matches its "[" literally.
func globMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last "*": linear in
	// practice, and never exponential on many stars.
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, width, valid := matchClass(pattern[p:], s[i]); valid {
					if ok {
						p += width
						i++
						continue
					}
				} else if s[i] == '[' {
					p++
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the class at the start of pat ("[...]").
// It returns whether c is in the class, the class's width in pat, and
// whether the class is well formed (closed by "]").
func matchClass(pat string, c byte) (match bool, width int, valid bool) {
	i := 1
	negate := i < len(pat) && (pat[i] == '!' || pat[i] == '^')
	if negate {
		i++
	}
	for first := true; i < len(pat); first = false {
		if pat[i] == ']' && !first {
			return match != negate, i + 1, true
		}
		lo := pat[i]
		if i+2 < len(pat) && pat[i+1] == '-' && pat[i+2] != ']' {
			if lo <= c && c <= pat[i+2] {
				match = true
			}
			i += 3
			continue
		}
		if lo == c {
			match = true
		}
		i++
	}
	return false, 0, false
}
