/**
 * Fleet provisioning: templates and their versions, provisioning by claim over MQTT, by a trusted
 * user (claims), RegisterThing, and the sweep of certificates that expired unused.
 */
import type { Namespace } from '../accounts/namespace.js';
import { defineCapability } from '../platform/capability.js';
import { checkRegistrationConfig } from './registration-config.js';
import { FleetProvisioning } from './fleet-provisioning.js';
import { JustInTime } from './just-in-time.js';
import { PendingCertificates, pendingMigrations } from './pending-certificates.js';
import { Provisioner } from './provisioner.js';
import { serveProvisioningOverMqtt } from './provisioning-mqtt.js';
import { provisioningRoutes } from './routes.js';
import { TemplateStore, templateMigrations } from './template-store.js';
import { Templates } from './templates.js';

/** How often the node holding the lease deletes what expired unused. */
const SWEEP_INTERVAL_MS = 60_000;

export interface ProvisioningServices {
  templates: Templates;
  fleet: FleetProvisioning;
  provisioner: Provisioner;
  justInTime: JustInTime;
  checkRegistrationConfig(ns: Namespace, config: unknown): Record<string, string>;
}

declare module '../platform/capability.js' {
  interface Services {
    provisioning: ProvisioningServices;
  }
}

export const provisioningCapability = defineCapability(
  'provisioning',
  async (ctx) => {
    const store = await TemplateStore.open(ctx.sql);
    const templates = new Templates({
      store,
      tags: ctx.tags,
      usedByCa: (ns, name) =>
        ctx
          .use('certificates')
          .store.caCertificates(ns)
          .some((c) => c.registrationConfig?.templateName === name),
    });
    const pending = new PendingCertificates(ctx.sql);
    const provisioner = new Provisioner({
      registry: () => ctx.use('registry'),
      certificates: () => ctx.use('certificates'),
      policies: () => ctx.use('policies'),
    });
    const log = ctx.log('provisioning');
    const fleet = new FleetProvisioning({
      templates,
      pending,
      provisioner,
      certificates: () => ctx.use('certificates'),
      policies: () => ctx.use('policies'),
      functions: () => ctx.use('functions'),
      log,
    });
    const justInTime = new JustInTime({
      certificates: () => ctx.use('certificates'),
      templates,
      provisioner,
      publish: (ns, topic, payload) => ctx.publish(ns, topic, payload),
      log,
    });
    return {
      services: {
        templates,
        fleet,
        provisioner,
        justInTime,
        checkRegistrationConfig: (ns, c) => checkRegistrationConfig(templates, ns, c),
      },
      routes: provisioningRoutes(templates, fleet),
      resources: { provisioningtemplate: (ns, name) => store.template(ns, name) !== undefined },
      start(broker) {
        const stop = serveProvisioningOverMqtt(broker, fleet, log);
        const sweep = setInterval(() => {
          if (!ctx.leader('provisioning.sweep')) return;
          fleet.sweep().catch((err: Error) => log.warn({ err: err.message }, 'deleting expired provisioning certificates failed'));
        }, SWEEP_INTERVAL_MS);
        sweep.unref();
        return () => {
          clearInterval(sweep);
          stop();
        };
      },
      clear: () => Promise.all([store.clear(), pending.clear()]),
      reload: { tables: ['provisioning_templates', 'provisioning_template_versions'], run: () => store.reload() },
    };
  },
  { migrations: { ...templateMigrations, ...pendingMigrations } },
);
