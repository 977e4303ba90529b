// mfactl as an Azure Container Apps job: `mfactl reconcile --once` on a cron schedule, signing
// in as a user-assigned managed identity (no app registration, no secret). The policy files are
// cloned by a git-sync init container (--one-time) into an EmptyDir volume shared with mfactl.
//
//   az deployment group create -g RG -f deploy/azure/container-apps-job.bicep \
//     -p environmentId=/subscriptions/…/managedEnvironments/ENV \
//        image=ghcr.io/your-org/mfactl:0.1.0 policyRepo=https://github.com/your-org/mfa-policies
//
// Then grant the identity the Graph application permissions (README "Deploy"): the portal
// cannot do that for a managed identity.

@description('Location of the job; defaults to the resource group\'s.')
param location string = resourceGroup().location

@description('Name of the Container Apps job.')
param jobName string = 'mfactl'

@description('Resource id of an existing Container Apps managed environment.')
param environmentId string

@description('Name of the user-assigned managed identity mfactl signs in as (created here).')
param identityName string = 'mfactl'

@description('The mfactl image.')
param image string = 'ghcr.io/your-org/mfactl:0.1.0'

@description('The git-sync image that clones the policy repository.')
param gitSyncImage string = 'registry.k8s.io/git-sync/git-sync:v4.4.0'

@description('HTTPS URL of the git repository with the policy files.')
param policyRepo string

@description('Branch, tag or commit of the policy repository.')
param policyRef string = 'main'

@description('Directory of the policy files inside the repository.')
param policyPath string = 'policies'

@description('Cron schedule (UTC) of the reconcile runs.')
param cronExpression string = '*/30 * * * *'

@description('observe reports drift; enforce applies and verifies.')
@allowed([
  'observe'
  'enforce'
])
param mode string = 'observe'

@description('Directory (tenant) id of the tenant to manage; defaults to this subscription\'s.')
param tenantId string = tenant().tenantId

@description('Name of an Azure Files storage already added to the environment, kept across runs for alert state and the audit log; empty for a fresh state each run (each run then alerts again).')
param stateStorageName string = ''

@description('Teams Workflows webhook URL for drift alerts; empty for none.')
@secure()
param teamsWebhook string = ''

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
}

var stateVolume = empty(stateStorageName) ? {
  name: 'state'
  storageType: 'EmptyDir'
} : {
  name: 'state'
  storageType: 'AzureFile'
  storageName: stateStorageName
}

var alertSecrets = empty(teamsWebhook) ? [] : [
  {
    name: 'teams-webhook'
    value: teamsWebhook
  }
]

var alertEnv = empty(teamsWebhook) ? [] : [
  {
    name: 'MFACTL_TEAMS_WEBHOOK'
    secretRef: 'teams-webhook'
  }
]

resource job 'Microsoft.App/jobs@2024-03-01' = {
  name: jobName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Schedule'
      scheduleTriggerConfig: {
        cronExpression: cronExpression
        parallelism: 1
        replicaCompletionCount: 1
      }
      replicaTimeout: 1800
      // mfactl's exit codes: 1 is drift in observe mode, 2-4 and 7 are final; a retry helps
      // only after 5 (Graph or network) or 6 (partial apply), and converges from there.
      replicaRetryLimit: 1
      secrets: alertSecrets
    }
    template: {
      initContainers: [
        {
          name: 'git-sync'
          image: gitSyncImage
          args: [
            '--repo=${policyRepo}'
            '--ref=${policyRef}'
            '--root=/git'
            '--link=repo'
            '--depth=1'
            '--one-time'
          ]
          env: [
            {
              name: 'HOME'
              value: '/tmp'
            }
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          volumeMounts: [
            {
              volumeName: 'git'
              mountPath: '/git'
            }
          ]
        }
      ]
      containers: [
        {
          name: 'mfactl'
          image: image
          args: [
            'reconcile'
            '--once'
            '--mode=${mode}'
            '--policies=/git/repo/${policyPath}'
            '--state-dir=/var/lib/mfactl'
            '--log-format=json'
          ]
          env: concat([
            {
              name: 'AZURE_TENANT_ID'
              value: tenantId
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identity.properties.clientId
            }
            {
              // The user-assigned identity, by AZURE_CLIENT_ID, from IDENTITY_ENDPOINT.
              name: 'MFACTL_MANAGED_IDENTITY'
              value: 'user'
            }
            {
              name: 'MFACTL_AUDIT_LOG'
              value: '/var/lib/mfactl/mfactl-audit.jsonl'
            }
          ], alertEnv)
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          volumeMounts: [
            {
              volumeName: 'git'
              mountPath: '/git'
            }
            {
              volumeName: 'state'
              mountPath: '/var/lib/mfactl'
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'git'
          storageType: 'EmptyDir'
        }
        stateVolume
      ]
    }
  }
}

@description('Object id of the identity\'s service principal: grant it the Graph application permissions.')
output principalId string = identity.properties.principalId

@description('Client id of the identity (AZURE_CLIENT_ID).')
output clientId string = identity.properties.clientId

output jobId string = job.id
