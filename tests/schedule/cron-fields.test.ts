import { expandField, renderField, shiftCron } from '../../src/schedule/cron-fields';

describe('shifting cron fields', () => {
  it.each([
    ['*/30 * * * *', 10, 0, '10,40 * * * *'],
    ['0 2-23/6 * * *', 10, 0, '10 2,8,14,20 * * *'],
    ['0 2 * * *', 40, 0, '40 2 * * *'],
    ['50 1 * * *', 20, 0, '10 1 * * *'],
    ['0 9 * * MON-FRI', 0, 1, '0 10 * * MON-FRI'],
    ['@daily', 5, 0, '5 0 * * *'],
    ['*/5 * * * *', 2, 0, '2-59/5 * * * *'],
    ['0 22 * * *', 0, 3, '0 1 * * *'],
    ['15 * * * *', 0, 5, '15 * * * *'],
  ])('%s shifted by %i min and %i h is %s', (expr, minutes, hours, expected) => {
    expect(shiftCron(expr, minutes, hours)).toBe(expected);
  });

  it('refuses what it cannot shift', () => {
    expect(shiftCron('0 0 L * *', 5, 0)).toBe('5 0 L * *');
    expect(shiftCron('0 0 * *', 5, 0)).toBeNull();
    expect(expandField('MON', 0, 59)).toBeNull();
    expect(expandField('70', 0, 59)).toBeNull();
  });

  it('renders sets compactly', () => {
    expect(renderField([0, 15, 30, 45], 0, 59)).toBe('0,15,30,45');
    expect(renderField([0, 10, 20, 30, 40, 50], 0, 59)).toBe('*/10');
    expect(renderField([3, 13, 23, 33, 43, 53], 0, 59)).toBe('3-59/10');
    expect(renderField([...Array(24).keys()], 0, 23)).toBe('*');
  });
});
