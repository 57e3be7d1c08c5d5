// Package initreport is what testdata/testinit, the tiny init the tests
// boot inside instances, reports of its surroundings: the one definition
// of the JSON it writes to /report.json and the tests (daemon, vmtest)
// read.
package initreport

// Report is what the instance's init sees as PID 1.
type Report struct {
	Pid      int      `json:"pid"`
	Ppid     int      `json:"ppid"`
	MntNS    string   `json:"mntns"`
	PidNS    string   `json:"pidns"`
	CgroupNS string   `json:"cgroupns"`
	Cgroup   string   `json:"cgroup"`
	Env      []string `json:"env"`
	FDs      []string `json:"fds"`
	SigBlk   string   `json:"sigblk"`
	SigIgn   string   `json:"sigign"`
	Root     []string `json:"root"` // the names in its root directory
}
