// The subscription plans a Store can name, with their prices and limits (null = unlimited).
import type { PlanName } from '../api/plans.js';

export { PLAN_NAMES, type PlanName } from '../api/plans.js';

export interface PlanTerms {
  priceMonthly: string;
  priceAnnual: string;
  maxProducts: number | null;
  maxOrdersPerMonth: number | null;
  maxStorageGb: number | null;
  maxApiCallsPerMonth: number | null;
  trialDays: number;
}

export const PLANS: Record<PlanName, PlanTerms> = {
  free: {
    priceMonthly: '0.00',
    priceAnnual: '0.00',
    maxProducts: 100,
    maxOrdersPerMonth: 100,
    maxStorageGb: 1,
    maxApiCallsPerMonth: 10_000,
    trialDays: 0,
  },
  starter: {
    priceMonthly: '29.00',
    priceAnnual: '290.00',
    maxProducts: 1_000,
    maxOrdersPerMonth: 1_000,
    maxStorageGb: 10,
    maxApiCallsPerMonth: 100_000,
    trialDays: 14,
  },
  professional: {
    priceMonthly: '99.00',
    priceAnnual: '990.00',
    maxProducts: 10_000,
    maxOrdersPerMonth: 10_000,
    maxStorageGb: 100,
    maxApiCallsPerMonth: 1_000_000,
    trialDays: 14,
  },
  enterprise: {
    priceMonthly: '499.00',
    priceAnnual: '4990.00',
    maxProducts: null,
    maxOrdersPerMonth: null,
    maxStorageGb: 1_000,
    maxApiCallsPerMonth: null,
    trialDays: 30,
  },
};
