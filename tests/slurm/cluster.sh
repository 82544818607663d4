#!/usr/bin/env bash
# A one-node Slurm cluster on this Debian machine, for testing the workflow's Slurm profile for real.
#   tests/slurm/cluster.sh start   install (if needed) and start munged, slurmctld, slurmd; wait for the node
#   tests/slurm/cluster.sh stop    stop exactly the daemons that 'start' started
#   tests/slurm/cluster.sh status  print the node's state
# Idempotent: 'start' on a running cluster does nothing. Needs root. Debian ships Slurm 22.05; there is no
# slurmdbd (so no sacct: the test profile uses squeue) and no systemd (daemons are started directly).
set -euo pipefail

STATE=${SVPRUNE_SLURM_STATE:-/tmp/svprune-slurm}
CONF=/etc/slurm/slurm.conf
mkdir -p "$STATE"

log() { echo "cluster.sh: $*" >&2; }

# a daemon is alive when its pid file names a running process that is not a zombie (a killed daemon whose
# parent is a container's non-reaping init stays a zombie)
alive() {
  [ -f "$STATE/$1.pid" ] || return 1
  local stat
  stat=$(ps -o stat= -p "$(cat "$STATE/$1.pid")" 2>/dev/null) || return 1
  [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

install_packages() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
      || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
  fi
}

write_config() {
  # CPUs, sockets and memory as slurmd itself detects them, for this host named 'localhost'
  local node
  node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*/NodeName=localhost/')
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat > "$STATE/slurm.conf" <<CONF
# written by tests/slurm/cluster.sh: a one-node test cluster
ClusterName=svprune-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# squeue must still know finished jobs when the executor asks: at least 3 x its first-check delay
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
$node State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  if [ -f "$CONF" ] && ! cmp -s "$STATE/slurm.conf" "$CONF" && ! grep -q "tests/slurm/cluster.sh" "$CONF"; then
    cp "$CONF" "$STATE/slurm.conf.before"
    log "saved the existing $CONF to $STATE/slurm.conf.before"
  fi
  cp "$STATE/slurm.conf" "$CONF"
}

start() {
  [ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
  install_packages
  if alive slurmctld && alive slurmd; then
    log "already running"
    return 0
  fi
  write_config
  if ! alive munged; then
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if munge -n </dev/null >/dev/null 2>&1; then
      log "using the munged that is already running"
    else
      rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid  # a killed one's
      runuser -u munge -- /usr/sbin/munged
      pgrep -x -n munged > "$STATE/munged.pid"
    fi
  fi
  alive slurmctld || { /usr/sbin/slurmctld -c; sleep 1; }
  alive slurmd || /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
    if [ "$state" = "idle" ]; then
      log "node localhost is idle"
      return 0
    fi
    if [ "$state" = "down" ] || [ "$state" = "drained" ]; then
      scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    fi
    sleep 1
  done
  log "the node did not become idle (state: ${state:-unknown}); see /var/log/slurm/"
  exit 1
}

stop() {
  for daemon in slurmd slurmctld munged; do
    if alive "$daemon"; then
      kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
      for _ in $(seq 1 20); do alive "$daemon" || break; sleep 0.5; done
      log "stopped $daemon"
    fi
    rm -f "$STATE/$daemon.pid"
  done
  # Put back the configuration that was there before (or none): with a slurm.conf naming a controller that is not
  # running, every Slurm client command, snakemake's Slurm plugin probing `scontrol` at import among them, waits
  # about 9 s for it
  if [ -f "$CONF" ] && cmp -s "$STATE/slurm.conf" "$CONF"; then
    if [ -f "$STATE/slurm.conf.before" ]; then
      mv "$STATE/slurm.conf.before" "$CONF" && log "restored the earlier $CONF"
    else
      rm -f "$CONF" && log "removed $CONF"
    fi
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo -N 2>/dev/null || { log "not running"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
