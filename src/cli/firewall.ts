/** `portcullis firewall --format iptables|pf|nftables`: rules computed from the configured ports. */
import { type Command, Option } from "commander";
import { effectivePortsOf } from "../config/load.js";
import { firewallRules, type FirewallFormat } from "../firewall/rules.js";
import { loadConfigOrExit } from "./load-config.js";

export function registerFirewall(program: Command): void {
  program
    .command("firewall")
    .description("print host firewall rules that open exactly the configured ports")
    .addOption(new Option("--format <format>", "rule syntax").choices(["iptables", "pf", "nftables"]).default("iptables"))
    .option("-c, --config <file>", "configuration file")
    .action((opts: { format: FirewallFormat; config?: string }) => {
      const { config } = loadConfigOrExit(opts.config);
      console.log(firewallRules(opts.format, { ...effectivePortsOf(config), host: config.ports.host }));
    });
}
