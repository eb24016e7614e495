package main

import "github.com/wifproject/wif/test/load/loadkit"

// memStat is a process's resident memory as the results record it.
type memStat struct {
	RSSKiB int64 `json:"rssKiB"`
	HWMKiB int64 `json:"hwmKiB"`
}

func readMem(pid int) (memStat, error) {
	m, err := loadkit.ReadMem(pid)
	return memStat{RSSKiB: m.RSSKiB, HWMKiB: m.HWMKiB}, err
}
