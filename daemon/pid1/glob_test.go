package pid1

import "testing"

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", true},
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "pci:v00008086d0000100Fsv00001AF4sd00001100bc02sc00i00", false},
		{"input:b*v*p*e*-e*1,*k*", "input:b0011v0001p0001eAB41-e0,1,4,11,14,k71,72,ramlsfw", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"*", "", true},
		{"", "x", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"x[0-9]y", "x5y", true},
		{"x[!0-9]y", "x5y", false},
		{"x[^0-9]y", "xay", true},
		{"x[]a]y", "x]y", true},
		{"x[ab", "x[ab", true},                               // an unclosed class is a literal "["
		{"of:N*T*Cfoo/bar*", "of:NnodeTtypeCfoo/barC", true}, // "*" crosses "/"
		{"dmi*:svnQEMU:*", "dmi:bvnSeaBIOS:svnQEMU:pnStandardPC", true},
	}
	for _, c := range cases {
		if got := globMatch(c.pat, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}
