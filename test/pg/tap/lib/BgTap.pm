# Helpers shared by the bgupdate TAP tests: nodes with the extension
# preloaded, waiting on the queue, and finding bgupdate processes.
package BgTap;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use Exporter 'import';

our @EXPORT = qw(bg_node bg_start wait_all_done bg_status bg_procs
  kill_postmaster_and_children kill_postmaster wait_gone bg_call
  bg_role_sessions bg_attacker_and_owner);

# A node whose worker runs without pacing and notices work quickly.
# %conf overrides or adds postgresql.conf lines.
sub bg_node
{
	my ($name, %params) = @_;
	my $conf = delete $params{conf} || {};
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	my %c = (
		shared_preload_libraries     => "'bgupdate'",
		'bgupdate.sleep_enabled'     => 'off',
		'bgupdate.naptime_ms'        => 100,
		'bgupdate.launcher_rescan_ms' => 200,
		log_statement                => 'none',   # the writer loops would flood the log
		%$conf);
	$node->append_conf('postgresql.conf',
		join('', map { "$_ = $c{$_}\n" } sort keys %c));
	return $node;
}

# Start, dying (not BAIL_OUT) with the log tail so run.sh can go on.
sub bg_start
{
	my ($node) = @_;
	return if $node->start(fail_ok => 1);
	die "node " . $node->name . " failed to start (is bgupdate installed? "
	  . "make -C pg_extension install)\n";
}

# Run bgupdate.<fn>(args) whether the extension made it a function
# (SELECT) or a procedure (CALL); returns psql's ($ret, $out, $err).
sub bg_call
{
	my ($node, $db, $fn, $args) = @_;
	my $kind = $node->safe_psql($db,
		"SELECT string_agg(DISTINCT prokind::text, '') FROM pg_proc "
		  . "WHERE proname = '$fn' AND pronamespace = 'bgupdate'::regnamespace");
	my $verb = $kind eq 'p' ? 'CALL' : 'SELECT';
	return $node->psql($db, "$verb bgupdate.$fn($args)");
}

# Status rows as "name|state|items_done|last_error" lines.
sub bg_status
{
	my ($node, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db,
		"SELECT update_name, state, items_done, last_error FROM bgupdate.status ORDER BY 1");
	return $ret == 0 ? $out : "status view failed: $err";
}

# Wait until the queue of $db is empty; false (with diagnostics) on a
# failed update or after $timeout seconds. $tick is called each round.
sub wait_all_done
{
	my ($node, $db, $timeout, $tick) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		my ($ret, $out, $err) = $node->psql($db,
			"SELECT bgupdate.has_completed_all()::text || ' ' || "
			  . "(SELECT count(*) FROM bgupdate.status WHERE state = 'failed')");
		if ($ret != 0)
		{
			diag "polling the queue failed: $err";
			return 0;
		}
		my ($done, $failed) = split / /, $out;
		return 1 if $done eq 'true';
		if ($failed > 0)
		{
			diag "an update failed:\n" . bg_status($node, $db);
			return 0;
		}
		$tick->() if $tick;
		usleep(200_000);
	}
	diag "queue of $db not done after ${timeout}s:\n" . bg_status($node, $db);
	return 0;
}

# pid => command line of every live child of $pid.
sub children_of
{
	my ($pid) = @_;
	my %kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open my $fh, '<', $stat or next;
		my $line = <$fh>;
		close $fh;
		next unless defined $line && $line =~ /^(\d+) \(.*\) \S+ (\d+) /s;
		next unless $2 == $pid;
		my $kid = $1;
		open my $cf, '<', "/proc/$kid/cmdline" or next;
		local $/;
		my $cmd = <$cf> // '';
		close $cf;
		$cmd =~ s/\0/ /g;
		$kids{$kid} = $cmd;
	}
	return \%kids;
}

# Process titles of the node's bgupdate processes (launcher, workers).
sub bg_procs
{
	my ($node) = @_;
	my $pm = $node->{_pid} or return ();
	my $kids = children_of($pm);
	return grep { /bgupdate/i } values %$kids;
}

# A real crash: SIGKILL the postmaster, then every process it had started
# (they would otherwise keep the old shared memory and block a restart).
sub kill_postmaster_and_children
{
	my ($node) = @_;
	my @kids = kill_postmaster($node);
	kill 'KILL', @kids;
	wait_gone(@kids);
}

# SIGKILL the postmaster alone; returns the pids of its children then.
# SIGSTOP first so that it forks nothing between listing and killing.
sub kill_postmaster
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	die "node not running" unless $pm;
	kill 'STOP', $pm;
	my @kids = keys %{ children_of($pm) };
	$node->kill9;
	# The new postmaster takes a zombie for a live one (postmaster.pid):
	# wait until it is reaped.
	wait_gone_fully($pm);
	return @kids;
}

# Zombies count as gone (they hold no shared memory); they are reaped late here.
sub alive
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $line = <$fh> // '';
	close $fh;
	return $line !~ /^\d+ \(.*\) Z /s;
}

sub wait_gone_fully
{
	my ($pid) = @_;
	for (1 .. 600)
	{
		return unless -e "/proc/$pid";
		usleep(50_000);
	}
	die "process $pid was not reaped";
}

sub wait_gone
{
	my @pids = @_;
	for (1 .. 300)
	{
		@pids = grep { alive($_) } @pids;
		return unless @pids;
		usleep(100_000);
	}
	die "processes @pids did not exit";
}

# The tests where roles attack each other's updates talk to one database as
# several roles. This defines, in the calling test's package:
#   as($role, $sql)      psql as $role: ($ret, $out, $err)
#   as_ok($role, $sql)   the same, dying on an error; the output
#   su_sql($sql)         as the superuser, dying on an error; the output
#   last_line($out)      the last line a script printed (void functions print
#                        empty lines before it)
#   done($name)          waits until the update has completed
sub bg_role_sessions
{
	my ($node, $db) = @_;
	my $pkg = caller;
	my %subs = (
		as => sub { my ($role, $sql) = @_; return $node->psql($db, $sql, extra_params => [ '-U', $role ]); },
		as_ok => sub { my ($role, $sql) = @_; return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]); },
		su_sql => sub { return $node->safe_psql($db, $_[0]); },
		last_line => sub { my @l = split /\n/, $_[0]; return $l[-1] // ''; },
		done => sub { return $node->poll_query_until($db, "SELECT bgupdate.has_completed('$_[0]')"); });
	no strict 'refs';
	*{"${pkg}::$_"} = $subs{$_} for keys %subs;
	return;
}

# The cast of those tests: the roles attacker and owner2, each with a schema
# of its own as its search_path; owner2.items (50 rows) and attacker.t (20
# rows), both (id int PRIMARY KEY, v int NOT NULL DEFAULT 0). %opt{member}:
# also a role "member" in role attacker, with attacker's search_path.
sub bg_attacker_and_owner
{
	my ($node, $db, %opt) = @_;
	my $member = $opt{member}
	  ? "CREATE ROLE member LOGIN IN ROLE attacker; ALTER ROLE member SET search_path = attacker;" : '';
	$node->safe_psql($db, qq{
		CREATE EXTENSION bgupdate;
		CREATE ROLE attacker LOGIN;
		CREATE ROLE owner2 LOGIN;
		CREATE SCHEMA attacker AUTHORIZATION attacker;
		CREATE SCHEMA owner2 AUTHORIZATION owner2;
		ALTER ROLE attacker SET search_path = attacker;
		ALTER ROLE owner2 SET search_path = owner2;
		$member
	});
	my %tables = (owner2 => 'owner2.items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)', attacker => 'attacker.t (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)');
	my %rows = (owner2 => 50, attacker => 20);
	for my $role (sort keys %tables)
	{
		my ($table) = $tables{$role} =~ /^(\S+)/;
		$node->safe_psql($db, "CREATE TABLE $tables{$role}; INSERT INTO $table (id) SELECT g FROM generate_series(1, $rows{$role}) g",
			extra_params => [ '-U', $role ]);
	}
	return;
}

1;
